"""A thin layer over a Kubernetes client (lightkube): connections, informers, work queues,
controllers, leader election. It speaks the API over HTTPS only and never imports the
server or the store, so what runs on it runs against any conformant cluster.
"""

from k3os.client.backoff import Backoff, KeyedBackoff
from k3os.client.cache import Cache
from k3os.client.clock import Clock, FakeClock, SystemClock
from k3os.client.controller import Controller, Retry, retry_for
from k3os.client.errors import (
    ApiStatusError,
    ClientError,
    ConflictError,
    GoneError,
    NotFoundError,
    PermanentError,
    ReconcileError,
    TemporaryError,
    TransportError,
)
from k3os.client.informer import Informer, InformerSet
from k3os.client.kube import Kube, ObjectList, WatchEvent, connect, connect_kubeconfig
from k3os.client.leader import LeaderElector, LeaseSettings
from k3os.client.resources import ResourceType, object_key
from k3os.client.tasks import run_tasks
from k3os.client.workqueue import QueueShutDown, WorkQueue

__all__ = [
    "ApiStatusError",
    "Backoff",
    "Cache",
    "ClientError",
    "Clock",
    "ConflictError",
    "Controller",
    "FakeClock",
    "GoneError",
    "Informer",
    "InformerSet",
    "KeyedBackoff",
    "Kube",
    "LeaderElector",
    "LeaseSettings",
    "NotFoundError",
    "ObjectList",
    "PermanentError",
    "QueueShutDown",
    "ReconcileError",
    "ResourceType",
    "Retry",
    "SystemClock",
    "TemporaryError",
    "TransportError",
    "WatchEvent",
    "WorkQueue",
    "connect",
    "connect_kubeconfig",
    "object_key",
    "retry_for",
    "run_tasks",
]
