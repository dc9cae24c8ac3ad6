"""A thin layer over a Kubernetes client: informers, work queues, leader election."""
