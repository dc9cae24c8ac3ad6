"""Field shapes and merge metadata of the built-in kinds (generated; do not edit).

Made by scripts/gen-patch-schema.py from the Kubernetes 1.36.0 schemas in
the kubernetes-validate package. A node is a dict: ``{}`` scalar, ``{'any': 1}``
free-form JSON, ``{'ref': NAME}`` an object of definition NAME, ``{'map': NODE}`` a
string-keyed map, ``{'list': NODE, 'lt': atomic|set|map, 'keys': [...]}`` a list;
optional ``mk`` (patch merge key), ``ps`` (patch strategy), ``atomic`` (map type).
"""

from typing import Any

KINDS: dict[str, str] = {
    "apiextensions.k8s.io/v1/CustomResourceDefinition": "apiextensions.v1.CustomResourceDefinition",
    "coordination.k8s.io/v1/Lease": "coordination.v1.Lease",
    "events.k8s.io/v1/Event": "events.v1.Event",
    "policy/v1/Eviction": "policy.v1.Eviction",
    "policy/v1/PodDisruptionBudget": "policy.v1.PodDisruptionBudget",
    "rbac.authorization.k8s.io/v1/ClusterRole": "rbac.v1.ClusterRole",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "rbac.v1.ClusterRoleBinding",
    "rbac.authorization.k8s.io/v1/Role": "rbac.v1.Role",
    "rbac.authorization.k8s.io/v1/RoleBinding": "rbac.v1.RoleBinding",
    "v1/ConfigMap": "core.v1.ConfigMap",
    "v1/Event": "core.v1.Event",
    "v1/Namespace": "core.v1.Namespace",
    "v1/Node": "core.v1.Node",
    "v1/Pod": "core.v1.Pod",
    "v1/Secret": "core.v1.Secret",
    "v1/ServiceAccount": "core.v1.ServiceAccount",
}

DEFINITIONS: dict[str, Any] = {
    "apiextensions.v1.CustomResourceColumnDefinition": {
        "fields": {
            "description": {},
            "format": {},
            "jsonPath": {},
            "name": {},
            "priority": {},
            "type": {},
        }
    },
    "apiextensions.v1.CustomResourceConversion": {
        "fields": {"strategy": {}, "webhook": {"ref": "apiextensions.v1.WebhookConversion"}}
    },
    "apiextensions.v1.CustomResourceDefinition": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "apiextensions.v1.CustomResourceDefinitionSpec"},
            "status": {"ref": "apiextensions.v1.CustomResourceDefinitionStatus"},
        }
    },
    "apiextensions.v1.CustomResourceDefinitionCondition": {
        "fields": {
            "lastTransitionTime": {},
            "message": {},
            "observedGeneration": {},
            "reason": {},
            "status": {},
            "type": {},
        }
    },
    "apiextensions.v1.CustomResourceDefinitionNames": {
        "fields": {
            "categories": {"list": {}, "lt": "atomic"},
            "kind": {},
            "listKind": {},
            "plural": {},
            "shortNames": {"list": {}, "lt": "atomic"},
            "singular": {},
        }
    },
    "apiextensions.v1.CustomResourceDefinitionSpec": {
        "fields": {
            "conversion": {"ref": "apiextensions.v1.CustomResourceConversion"},
            "group": {},
            "names": {"ref": "apiextensions.v1.CustomResourceDefinitionNames"},
            "preserveUnknownFields": {},
            "scope": {},
            "versions": {
                "list": {"ref": "apiextensions.v1.CustomResourceDefinitionVersion"},
                "lt": "atomic",
            },
        }
    },
    "apiextensions.v1.CustomResourceDefinitionStatus": {
        "fields": {
            "acceptedNames": {"ref": "apiextensions.v1.CustomResourceDefinitionNames"},
            "conditions": {
                "keys": ["type"],
                "list": {"ref": "apiextensions.v1.CustomResourceDefinitionCondition"},
                "lt": "map",
            },
            "observedGeneration": {},
            "storedVersions": {"list": {}, "lt": "atomic"},
        }
    },
    "apiextensions.v1.CustomResourceDefinitionVersion": {
        "fields": {
            "additionalPrinterColumns": {
                "list": {"ref": "apiextensions.v1.CustomResourceColumnDefinition"},
                "lt": "atomic",
            },
            "deprecated": {},
            "deprecationWarning": {},
            "name": {},
            "schema": {"ref": "apiextensions.v1.CustomResourceValidation"},
            "selectableFields": {
                "list": {"ref": "apiextensions.v1.SelectableField"},
                "lt": "atomic",
            },
            "served": {},
            "storage": {},
            "subresources": {"ref": "apiextensions.v1.CustomResourceSubresources"},
        }
    },
    "apiextensions.v1.CustomResourceSubresourceScale": {
        "fields": {"labelSelectorPath": {}, "specReplicasPath": {}, "statusReplicasPath": {}}
    },
    "apiextensions.v1.CustomResourceSubresources": {
        "fields": {
            "scale": {"ref": "apiextensions.v1.CustomResourceSubresourceScale"},
            "status": {},
        }
    },
    "apiextensions.v1.CustomResourceValidation": {
        "fields": {"openAPIV3Schema": {"ref": "apiextensions.v1.JSONSchemaProps"}}
    },
    "apiextensions.v1.ExternalDocumentation": {"fields": {"description": {}, "url": {}}},
    "apiextensions.v1.JSONSchemaProps": {
        "fields": {
            "$ref": {},
            "$schema": {},
            "additionalItems": {"any": 1},
            "additionalProperties": {"any": 1},
            "allOf": {"list": {"ref": "apiextensions.v1.JSONSchemaProps"}, "lt": "atomic"},
            "anyOf": {"list": {"ref": "apiextensions.v1.JSONSchemaProps"}, "lt": "atomic"},
            "default": {"any": 1},
            "definitions": {"map": {"ref": "apiextensions.v1.JSONSchemaProps"}},
            "dependencies": {"map": {"any": 1}},
            "description": {},
            "enum": {"list": {"any": 1}, "lt": "atomic"},
            "example": {"any": 1},
            "exclusiveMaximum": {},
            "exclusiveMinimum": {},
            "externalDocs": {"ref": "apiextensions.v1.ExternalDocumentation"},
            "format": {},
            "id": {},
            "items": {"any": 1},
            "maxItems": {},
            "maxLength": {},
            "maxProperties": {},
            "maximum": {},
            "minItems": {},
            "minLength": {},
            "minProperties": {},
            "minimum": {},
            "multipleOf": {},
            "not": {"ref": "apiextensions.v1.JSONSchemaProps"},
            "nullable": {},
            "oneOf": {"list": {"ref": "apiextensions.v1.JSONSchemaProps"}, "lt": "atomic"},
            "pattern": {},
            "patternProperties": {"map": {"ref": "apiextensions.v1.JSONSchemaProps"}},
            "properties": {"map": {"ref": "apiextensions.v1.JSONSchemaProps"}},
            "required": {"list": {}, "lt": "atomic"},
            "title": {},
            "type": {},
            "uniqueItems": {},
            "x-kubernetes-embedded-resource": {},
            "x-kubernetes-int-or-string": {},
            "x-kubernetes-list-map-keys": {"list": {}, "lt": "atomic"},
            "x-kubernetes-list-type": {},
            "x-kubernetes-map-type": {},
            "x-kubernetes-preserve-unknown-fields": {},
            "x-kubernetes-validations": {
                "keys": ["rule"],
                "list": {"ref": "apiextensions.v1.ValidationRule"},
                "lt": "map",
                "mk": "rule",
                "ps": "merge",
            },
        }
    },
    "apiextensions.v1.SelectableField": {"fields": {"jsonPath": {}}},
    "apiextensions.v1.ServiceReference": {
        "fields": {"name": {}, "namespace": {}, "path": {}, "port": {}}
    },
    "apiextensions.v1.ValidationRule": {
        "fields": {
            "fieldPath": {},
            "message": {},
            "messageExpression": {},
            "optionalOldSelf": {},
            "reason": {},
            "rule": {},
        }
    },
    "apiextensions.v1.WebhookClientConfig": {
        "fields": {
            "caBundle": {},
            "service": {"ref": "apiextensions.v1.ServiceReference"},
            "url": {},
        }
    },
    "apiextensions.v1.WebhookConversion": {
        "fields": {
            "clientConfig": {"ref": "apiextensions.v1.WebhookClientConfig"},
            "conversionReviewVersions": {"list": {}, "lt": "atomic"},
        }
    },
    "coordination.v1.Lease": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "coordination.v1.LeaseSpec"},
        }
    },
    "coordination.v1.LeaseSpec": {
        "fields": {
            "acquireTime": {},
            "holderIdentity": {},
            "leaseDurationSeconds": {},
            "leaseTransitions": {},
            "preferredHolder": {},
            "renewTime": {},
            "strategy": {},
        }
    },
    "core.v1.AWSElasticBlockStoreVolumeSource": {
        "fields": {"fsType": {}, "partition": {}, "readOnly": {}, "volumeID": {}}
    },
    "core.v1.Affinity": {
        "fields": {
            "nodeAffinity": {"ref": "core.v1.NodeAffinity"},
            "podAffinity": {"ref": "core.v1.PodAffinity"},
            "podAntiAffinity": {"ref": "core.v1.PodAntiAffinity"},
        }
    },
    "core.v1.AppArmorProfile": {"fields": {"localhostProfile": {}, "type": {}}},
    "core.v1.AttachedVolume": {"fields": {"devicePath": {}, "name": {}}},
    "core.v1.AzureDiskVolumeSource": {
        "fields": {
            "cachingMode": {},
            "diskName": {},
            "diskURI": {},
            "fsType": {},
            "kind": {},
            "readOnly": {},
        }
    },
    "core.v1.AzureFileVolumeSource": {
        "fields": {"readOnly": {}, "secretName": {}, "shareName": {}}
    },
    "core.v1.CSIVolumeSource": {
        "fields": {
            "driver": {},
            "fsType": {},
            "nodePublishSecretRef": {"ref": "core.v1.LocalObjectReference"},
            "readOnly": {},
            "volumeAttributes": {"map": {}},
        }
    },
    "core.v1.Capabilities": {
        "fields": {"add": {"list": {}, "lt": "atomic"}, "drop": {"list": {}, "lt": "atomic"}}
    },
    "core.v1.CephFSVolumeSource": {
        "fields": {
            "monitors": {"list": {}, "lt": "atomic"},
            "path": {},
            "readOnly": {},
            "secretFile": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
            "user": {},
        }
    },
    "core.v1.CinderVolumeSource": {
        "fields": {
            "fsType": {},
            "readOnly": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
            "volumeID": {},
        }
    },
    "core.v1.ClusterTrustBundleProjection": {
        "fields": {
            "labelSelector": {"ref": "meta.v1.LabelSelector"},
            "name": {},
            "optional": {},
            "path": {},
            "signerName": {},
        }
    },
    "core.v1.ConfigMap": {
        "fields": {
            "apiVersion": {},
            "binaryData": {"map": {}},
            "data": {"map": {}},
            "immutable": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
        }
    },
    "core.v1.ConfigMapEnvSource": {"fields": {"name": {}, "optional": {}}},
    "core.v1.ConfigMapKeySelector": {
        "atomic": 1,
        "fields": {"key": {}, "name": {}, "optional": {}},
    },
    "core.v1.ConfigMapNodeConfigSource": {
        "fields": {
            "kubeletConfigKey": {},
            "name": {},
            "namespace": {},
            "resourceVersion": {},
            "uid": {},
        }
    },
    "core.v1.ConfigMapProjection": {
        "fields": {
            "items": {"list": {"ref": "core.v1.KeyToPath"}, "lt": "atomic"},
            "name": {},
            "optional": {},
        }
    },
    "core.v1.ConfigMapVolumeSource": {
        "fields": {
            "defaultMode": {},
            "items": {"list": {"ref": "core.v1.KeyToPath"}, "lt": "atomic"},
            "name": {},
            "optional": {},
        }
    },
    "core.v1.Container": {
        "fields": {
            "args": {"list": {}, "lt": "atomic"},
            "command": {"list": {}, "lt": "atomic"},
            "env": {
                "keys": ["name"],
                "list": {"ref": "core.v1.EnvVar"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "envFrom": {"list": {"ref": "core.v1.EnvFromSource"}, "lt": "atomic"},
            "image": {},
            "imagePullPolicy": {},
            "lifecycle": {"ref": "core.v1.Lifecycle"},
            "livenessProbe": {"ref": "core.v1.Probe"},
            "name": {},
            "ports": {
                "keys": ["containerPort", "protocol"],
                "list": {"ref": "core.v1.ContainerPort"},
                "lt": "map",
                "mk": "containerPort",
                "ps": "merge",
            },
            "readinessProbe": {"ref": "core.v1.Probe"},
            "resizePolicy": {"list": {"ref": "core.v1.ContainerResizePolicy"}, "lt": "atomic"},
            "resources": {"ref": "core.v1.ResourceRequirements"},
            "restartPolicy": {},
            "restartPolicyRules": {"list": {"ref": "core.v1.ContainerRestartRule"}, "lt": "atomic"},
            "securityContext": {"ref": "core.v1.SecurityContext"},
            "startupProbe": {"ref": "core.v1.Probe"},
            "stdin": {},
            "stdinOnce": {},
            "terminationMessagePath": {},
            "terminationMessagePolicy": {},
            "tty": {},
            "volumeDevices": {
                "keys": ["devicePath"],
                "list": {"ref": "core.v1.VolumeDevice"},
                "lt": "map",
                "mk": "devicePath",
                "ps": "merge",
            },
            "volumeMounts": {
                "keys": ["mountPath"],
                "list": {"ref": "core.v1.VolumeMount"},
                "lt": "map",
                "mk": "mountPath",
                "ps": "merge",
            },
            "workingDir": {},
        }
    },
    "core.v1.ContainerExtendedResourceRequest": {
        "fields": {"containerName": {}, "requestName": {}, "resourceName": {}}
    },
    "core.v1.ContainerImage": {"fields": {"names": {"list": {}, "lt": "atomic"}, "sizeBytes": {}}},
    "core.v1.ContainerPort": {
        "fields": {"containerPort": {}, "hostIP": {}, "hostPort": {}, "name": {}, "protocol": {}}
    },
    "core.v1.ContainerResizePolicy": {"fields": {"resourceName": {}, "restartPolicy": {}}},
    "core.v1.ContainerRestartRule": {
        "fields": {"action": {}, "exitCodes": {"ref": "core.v1.ContainerRestartRuleOnExitCodes"}}
    },
    "core.v1.ContainerRestartRuleOnExitCodes": {
        "fields": {"operator": {}, "values": {"list": {}, "lt": "set"}}
    },
    "core.v1.ContainerState": {
        "fields": {
            "running": {"ref": "core.v1.ContainerStateRunning"},
            "terminated": {"ref": "core.v1.ContainerStateTerminated"},
            "waiting": {"ref": "core.v1.ContainerStateWaiting"},
        }
    },
    "core.v1.ContainerStateRunning": {"fields": {"startedAt": {}}},
    "core.v1.ContainerStateTerminated": {
        "fields": {
            "containerID": {},
            "exitCode": {},
            "finishedAt": {},
            "message": {},
            "reason": {},
            "signal": {},
            "startedAt": {},
        }
    },
    "core.v1.ContainerStateWaiting": {"fields": {"message": {}, "reason": {}}},
    "core.v1.ContainerStatus": {
        "fields": {
            "allocatedResources": {"map": {}},
            "allocatedResourcesStatus": {
                "keys": ["name"],
                "list": {"ref": "core.v1.ResourceStatus"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "containerID": {},
            "image": {},
            "imageID": {},
            "lastState": {"ref": "core.v1.ContainerState"},
            "name": {},
            "ready": {},
            "resources": {"ref": "core.v1.ResourceRequirements"},
            "restartCount": {},
            "started": {},
            "state": {"ref": "core.v1.ContainerState"},
            "stopSignal": {},
            "user": {"ref": "core.v1.ContainerUser"},
            "volumeMounts": {
                "keys": ["mountPath"],
                "list": {"ref": "core.v1.VolumeMountStatus"},
                "lt": "map",
                "mk": "mountPath",
                "ps": "merge",
            },
        }
    },
    "core.v1.ContainerUser": {"fields": {"linux": {"ref": "core.v1.LinuxContainerUser"}}},
    "core.v1.DaemonEndpoint": {"fields": {"Port": {}}},
    "core.v1.DownwardAPIProjection": {
        "fields": {"items": {"list": {"ref": "core.v1.DownwardAPIVolumeFile"}, "lt": "atomic"}}
    },
    "core.v1.DownwardAPIVolumeFile": {
        "fields": {
            "fieldRef": {"ref": "core.v1.ObjectFieldSelector"},
            "mode": {},
            "path": {},
            "resourceFieldRef": {"ref": "core.v1.ResourceFieldSelector"},
        }
    },
    "core.v1.DownwardAPIVolumeSource": {
        "fields": {
            "defaultMode": {},
            "items": {"list": {"ref": "core.v1.DownwardAPIVolumeFile"}, "lt": "atomic"},
        }
    },
    "core.v1.EmptyDirVolumeSource": {"fields": {"medium": {}, "sizeLimit": {}}},
    "core.v1.EnvFromSource": {
        "fields": {
            "configMapRef": {"ref": "core.v1.ConfigMapEnvSource"},
            "prefix": {},
            "secretRef": {"ref": "core.v1.SecretEnvSource"},
        }
    },
    "core.v1.EnvVar": {
        "fields": {"name": {}, "value": {}, "valueFrom": {"ref": "core.v1.EnvVarSource"}}
    },
    "core.v1.EnvVarSource": {
        "fields": {
            "configMapKeyRef": {"ref": "core.v1.ConfigMapKeySelector"},
            "fieldRef": {"ref": "core.v1.ObjectFieldSelector"},
            "fileKeyRef": {"ref": "core.v1.FileKeySelector"},
            "resourceFieldRef": {"ref": "core.v1.ResourceFieldSelector"},
            "secretKeyRef": {"ref": "core.v1.SecretKeySelector"},
        }
    },
    "core.v1.EphemeralContainer": {
        "fields": {
            "args": {"list": {}, "lt": "atomic"},
            "command": {"list": {}, "lt": "atomic"},
            "env": {
                "keys": ["name"],
                "list": {"ref": "core.v1.EnvVar"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "envFrom": {"list": {"ref": "core.v1.EnvFromSource"}, "lt": "atomic"},
            "image": {},
            "imagePullPolicy": {},
            "lifecycle": {"ref": "core.v1.Lifecycle"},
            "livenessProbe": {"ref": "core.v1.Probe"},
            "name": {},
            "ports": {
                "keys": ["containerPort", "protocol"],
                "list": {"ref": "core.v1.ContainerPort"},
                "lt": "map",
                "mk": "containerPort",
                "ps": "merge",
            },
            "readinessProbe": {"ref": "core.v1.Probe"},
            "resizePolicy": {"list": {"ref": "core.v1.ContainerResizePolicy"}, "lt": "atomic"},
            "resources": {"ref": "core.v1.ResourceRequirements"},
            "restartPolicy": {},
            "restartPolicyRules": {"list": {"ref": "core.v1.ContainerRestartRule"}, "lt": "atomic"},
            "securityContext": {"ref": "core.v1.SecurityContext"},
            "startupProbe": {"ref": "core.v1.Probe"},
            "stdin": {},
            "stdinOnce": {},
            "targetContainerName": {},
            "terminationMessagePath": {},
            "terminationMessagePolicy": {},
            "tty": {},
            "volumeDevices": {
                "keys": ["devicePath"],
                "list": {"ref": "core.v1.VolumeDevice"},
                "lt": "map",
                "mk": "devicePath",
                "ps": "merge",
            },
            "volumeMounts": {
                "keys": ["mountPath"],
                "list": {"ref": "core.v1.VolumeMount"},
                "lt": "map",
                "mk": "mountPath",
                "ps": "merge",
            },
            "workingDir": {},
        }
    },
    "core.v1.EphemeralVolumeSource": {
        "fields": {"volumeClaimTemplate": {"ref": "core.v1.PersistentVolumeClaimTemplate"}}
    },
    "core.v1.Event": {
        "fields": {
            "action": {},
            "apiVersion": {},
            "count": {},
            "eventTime": {},
            "firstTimestamp": {},
            "involvedObject": {"ref": "core.v1.ObjectReference"},
            "kind": {},
            "lastTimestamp": {},
            "message": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "reason": {},
            "related": {"ref": "core.v1.ObjectReference"},
            "reportingComponent": {},
            "reportingInstance": {},
            "series": {"ref": "core.v1.EventSeries"},
            "source": {"ref": "core.v1.EventSource"},
            "type": {},
        }
    },
    "core.v1.EventSeries": {"fields": {"count": {}, "lastObservedTime": {}}},
    "core.v1.EventSource": {"fields": {"component": {}, "host": {}}},
    "core.v1.ExecAction": {"fields": {"command": {"list": {}, "lt": "atomic"}}},
    "core.v1.FCVolumeSource": {
        "fields": {
            "fsType": {},
            "lun": {},
            "readOnly": {},
            "targetWWNs": {"list": {}, "lt": "atomic"},
            "wwids": {"list": {}, "lt": "atomic"},
        }
    },
    "core.v1.FileKeySelector": {
        "atomic": 1,
        "fields": {"key": {}, "optional": {}, "path": {}, "volumeName": {}},
    },
    "core.v1.FlexVolumeSource": {
        "fields": {
            "driver": {},
            "fsType": {},
            "options": {"map": {}},
            "readOnly": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
        }
    },
    "core.v1.FlockerVolumeSource": {"fields": {"datasetName": {}, "datasetUUID": {}}},
    "core.v1.GCEPersistentDiskVolumeSource": {
        "fields": {"fsType": {}, "partition": {}, "pdName": {}, "readOnly": {}}
    },
    "core.v1.GRPCAction": {"fields": {"port": {}, "service": {}}},
    "core.v1.GitRepoVolumeSource": {"fields": {"directory": {}, "repository": {}, "revision": {}}},
    "core.v1.GlusterfsVolumeSource": {"fields": {"endpoints": {}, "path": {}, "readOnly": {}}},
    "core.v1.HTTPGetAction": {
        "fields": {
            "host": {},
            "httpHeaders": {"list": {"ref": "core.v1.HTTPHeader"}, "lt": "atomic"},
            "path": {},
            "port": {},
            "scheme": {},
        }
    },
    "core.v1.HTTPHeader": {"fields": {"name": {}, "value": {}}},
    "core.v1.HostAlias": {"fields": {"hostnames": {"list": {}, "lt": "atomic"}, "ip": {}}},
    "core.v1.HostIP": {"fields": {"ip": {}}},
    "core.v1.HostPathVolumeSource": {"fields": {"path": {}, "type": {}}},
    "core.v1.ISCSIVolumeSource": {
        "fields": {
            "chapAuthDiscovery": {},
            "chapAuthSession": {},
            "fsType": {},
            "initiatorName": {},
            "iqn": {},
            "iscsiInterface": {},
            "lun": {},
            "portals": {"list": {}, "lt": "atomic"},
            "readOnly": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
            "targetPortal": {},
        }
    },
    "core.v1.ImageVolumeSource": {"fields": {"pullPolicy": {}, "reference": {}}},
    "core.v1.ImageVolumeStatus": {"fields": {"imageRef": {}}},
    "core.v1.KeyToPath": {"fields": {"key": {}, "mode": {}, "path": {}}},
    "core.v1.Lifecycle": {
        "fields": {
            "postStart": {"ref": "core.v1.LifecycleHandler"},
            "preStop": {"ref": "core.v1.LifecycleHandler"},
            "stopSignal": {},
        }
    },
    "core.v1.LifecycleHandler": {
        "fields": {
            "exec": {"ref": "core.v1.ExecAction"},
            "httpGet": {"ref": "core.v1.HTTPGetAction"},
            "sleep": {"ref": "core.v1.SleepAction"},
            "tcpSocket": {"ref": "core.v1.TCPSocketAction"},
        }
    },
    "core.v1.LinuxContainerUser": {
        "fields": {"gid": {}, "supplementalGroups": {"list": {}, "lt": "atomic"}, "uid": {}}
    },
    "core.v1.LocalObjectReference": {"atomic": 1, "fields": {"name": {}}},
    "core.v1.NFSVolumeSource": {"fields": {"path": {}, "readOnly": {}, "server": {}}},
    "core.v1.Namespace": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "core.v1.NamespaceSpec"},
            "status": {"ref": "core.v1.NamespaceStatus"},
        }
    },
    "core.v1.NamespaceCondition": {
        "fields": {"lastTransitionTime": {}, "message": {}, "reason": {}, "status": {}, "type": {}}
    },
    "core.v1.NamespaceSpec": {"fields": {"finalizers": {"list": {}, "lt": "atomic"}}},
    "core.v1.NamespaceStatus": {
        "fields": {
            "conditions": {
                "keys": ["type"],
                "list": {"ref": "core.v1.NamespaceCondition"},
                "lt": "map",
                "mk": "type",
                "ps": "merge",
            },
            "phase": {},
        }
    },
    "core.v1.Node": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "core.v1.NodeSpec"},
            "status": {"ref": "core.v1.NodeStatus"},
        }
    },
    "core.v1.NodeAddress": {"fields": {"address": {}, "type": {}}},
    "core.v1.NodeAffinity": {
        "fields": {
            "preferredDuringSchedulingIgnoredDuringExecution": {
                "list": {"ref": "core.v1.PreferredSchedulingTerm"},
                "lt": "atomic",
            },
            "requiredDuringSchedulingIgnoredDuringExecution": {"ref": "core.v1.NodeSelector"},
        }
    },
    "core.v1.NodeAllocatableResourceClaimStatus": {
        "fields": {
            "containers": {"list": {}, "lt": "set"},
            "resourceClaimName": {},
            "resources": {"map": {}},
        }
    },
    "core.v1.NodeCondition": {
        "fields": {
            "lastHeartbeatTime": {},
            "lastTransitionTime": {},
            "message": {},
            "reason": {},
            "status": {},
            "type": {},
        }
    },
    "core.v1.NodeConfigSource": {
        "fields": {"configMap": {"ref": "core.v1.ConfigMapNodeConfigSource"}}
    },
    "core.v1.NodeConfigStatus": {
        "fields": {
            "active": {"ref": "core.v1.NodeConfigSource"},
            "assigned": {"ref": "core.v1.NodeConfigSource"},
            "error": {},
            "lastKnownGood": {"ref": "core.v1.NodeConfigSource"},
        }
    },
    "core.v1.NodeDaemonEndpoints": {
        "fields": {"kubeletEndpoint": {"ref": "core.v1.DaemonEndpoint"}}
    },
    "core.v1.NodeFeatures": {"fields": {"supplementalGroupsPolicy": {}}},
    "core.v1.NodeRuntimeHandler": {
        "fields": {"features": {"ref": "core.v1.NodeRuntimeHandlerFeatures"}, "name": {}}
    },
    "core.v1.NodeRuntimeHandlerFeatures": {
        "fields": {"recursiveReadOnlyMounts": {}, "userNamespaces": {}}
    },
    "core.v1.NodeSelector": {
        "atomic": 1,
        "fields": {
            "nodeSelectorTerms": {"list": {"ref": "core.v1.NodeSelectorTerm"}, "lt": "atomic"}
        },
    },
    "core.v1.NodeSelectorRequirement": {
        "fields": {"key": {}, "operator": {}, "values": {"list": {}, "lt": "atomic"}}
    },
    "core.v1.NodeSelectorTerm": {
        "atomic": 1,
        "fields": {
            "matchExpressions": {
                "list": {"ref": "core.v1.NodeSelectorRequirement"},
                "lt": "atomic",
            },
            "matchFields": {"list": {"ref": "core.v1.NodeSelectorRequirement"}, "lt": "atomic"},
        },
    },
    "core.v1.NodeSpec": {
        "fields": {
            "configSource": {"ref": "core.v1.NodeConfigSource"},
            "externalID": {},
            "podCIDR": {},
            "podCIDRs": {"list": {}, "lt": "set", "ps": "merge"},
            "providerID": {},
            "taints": {"list": {"ref": "core.v1.Taint"}, "lt": "atomic"},
            "unschedulable": {},
        }
    },
    "core.v1.NodeStatus": {
        "fields": {
            "addresses": {
                "keys": ["type"],
                "list": {"ref": "core.v1.NodeAddress"},
                "lt": "map",
                "mk": "type",
                "ps": "merge",
            },
            "allocatable": {"map": {}},
            "capacity": {"map": {}},
            "conditions": {
                "keys": ["type"],
                "list": {"ref": "core.v1.NodeCondition"},
                "lt": "map",
                "mk": "type",
                "ps": "merge",
            },
            "config": {"ref": "core.v1.NodeConfigStatus"},
            "daemonEndpoints": {"ref": "core.v1.NodeDaemonEndpoints"},
            "declaredFeatures": {"list": {}, "lt": "atomic"},
            "features": {"ref": "core.v1.NodeFeatures"},
            "images": {"list": {"ref": "core.v1.ContainerImage"}, "lt": "atomic"},
            "nodeInfo": {"ref": "core.v1.NodeSystemInfo"},
            "phase": {},
            "runtimeHandlers": {"list": {"ref": "core.v1.NodeRuntimeHandler"}, "lt": "atomic"},
            "volumesAttached": {"list": {"ref": "core.v1.AttachedVolume"}, "lt": "atomic"},
            "volumesInUse": {"list": {}, "lt": "atomic"},
        }
    },
    "core.v1.NodeSwapStatus": {"fields": {"capacity": {}}},
    "core.v1.NodeSystemInfo": {
        "fields": {
            "architecture": {},
            "bootID": {},
            "containerRuntimeVersion": {},
            "kernelVersion": {},
            "kubeProxyVersion": {},
            "kubeletVersion": {},
            "machineID": {},
            "operatingSystem": {},
            "osImage": {},
            "swap": {"ref": "core.v1.NodeSwapStatus"},
            "systemUUID": {},
        }
    },
    "core.v1.ObjectFieldSelector": {"atomic": 1, "fields": {"apiVersion": {}, "fieldPath": {}}},
    "core.v1.ObjectReference": {
        "atomic": 1,
        "fields": {
            "apiVersion": {},
            "fieldPath": {},
            "kind": {},
            "name": {},
            "namespace": {},
            "resourceVersion": {},
            "uid": {},
        },
    },
    "core.v1.PersistentVolumeClaimSpec": {
        "fields": {
            "accessModes": {"list": {}, "lt": "atomic"},
            "dataSource": {"ref": "core.v1.TypedLocalObjectReference"},
            "dataSourceRef": {"ref": "core.v1.TypedObjectReference"},
            "resources": {"ref": "core.v1.VolumeResourceRequirements"},
            "selector": {"ref": "meta.v1.LabelSelector"},
            "storageClassName": {},
            "volumeAttributesClassName": {},
            "volumeMode": {},
            "volumeName": {},
        }
    },
    "core.v1.PersistentVolumeClaimTemplate": {
        "fields": {
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "core.v1.PersistentVolumeClaimSpec"},
        }
    },
    "core.v1.PersistentVolumeClaimVolumeSource": {"fields": {"claimName": {}, "readOnly": {}}},
    "core.v1.PhotonPersistentDiskVolumeSource": {"fields": {"fsType": {}, "pdID": {}}},
    "core.v1.Pod": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "core.v1.PodSpec"},
            "status": {"ref": "core.v1.PodStatus"},
        }
    },
    "core.v1.PodAffinity": {
        "fields": {
            "preferredDuringSchedulingIgnoredDuringExecution": {
                "list": {"ref": "core.v1.WeightedPodAffinityTerm"},
                "lt": "atomic",
            },
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "list": {"ref": "core.v1.PodAffinityTerm"},
                "lt": "atomic",
            },
        }
    },
    "core.v1.PodAffinityTerm": {
        "fields": {
            "labelSelector": {"ref": "meta.v1.LabelSelector"},
            "matchLabelKeys": {"list": {}, "lt": "atomic"},
            "mismatchLabelKeys": {"list": {}, "lt": "atomic"},
            "namespaceSelector": {"ref": "meta.v1.LabelSelector"},
            "namespaces": {"list": {}, "lt": "atomic"},
            "topologyKey": {},
        }
    },
    "core.v1.PodAntiAffinity": {
        "fields": {
            "preferredDuringSchedulingIgnoredDuringExecution": {
                "list": {"ref": "core.v1.WeightedPodAffinityTerm"},
                "lt": "atomic",
            },
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "list": {"ref": "core.v1.PodAffinityTerm"},
                "lt": "atomic",
            },
        }
    },
    "core.v1.PodCertificateProjection": {
        "fields": {
            "certificateChainPath": {},
            "credentialBundlePath": {},
            "keyPath": {},
            "keyType": {},
            "maxExpirationSeconds": {},
            "signerName": {},
            "userAnnotations": {"map": {}},
        }
    },
    "core.v1.PodCondition": {
        "fields": {
            "lastProbeTime": {},
            "lastTransitionTime": {},
            "message": {},
            "observedGeneration": {},
            "reason": {},
            "status": {},
            "type": {},
        }
    },
    "core.v1.PodDNSConfig": {
        "fields": {
            "nameservers": {"list": {}, "lt": "atomic"},
            "options": {"list": {"ref": "core.v1.PodDNSConfigOption"}, "lt": "atomic"},
            "searches": {"list": {}, "lt": "atomic"},
        }
    },
    "core.v1.PodDNSConfigOption": {"fields": {"name": {}, "value": {}}},
    "core.v1.PodExtendedResourceClaimStatus": {
        "fields": {
            "requestMappings": {
                "list": {"ref": "core.v1.ContainerExtendedResourceRequest"},
                "lt": "atomic",
            },
            "resourceClaimName": {},
        }
    },
    "core.v1.PodIP": {"fields": {"ip": {}}},
    "core.v1.PodOS": {"fields": {"name": {}}},
    "core.v1.PodReadinessGate": {"fields": {"conditionType": {}}},
    "core.v1.PodResourceClaim": {
        "fields": {"name": {}, "resourceClaimName": {}, "resourceClaimTemplateName": {}}
    },
    "core.v1.PodResourceClaimStatus": {"fields": {"name": {}, "resourceClaimName": {}}},
    "core.v1.PodSchedulingGate": {"fields": {"name": {}}},
    "core.v1.PodSchedulingGroup": {"fields": {"podGroupName": {}}},
    "core.v1.PodSecurityContext": {
        "fields": {
            "appArmorProfile": {"ref": "core.v1.AppArmorProfile"},
            "fsGroup": {},
            "fsGroupChangePolicy": {},
            "runAsGroup": {},
            "runAsNonRoot": {},
            "runAsUser": {},
            "seLinuxChangePolicy": {},
            "seLinuxOptions": {"ref": "core.v1.SELinuxOptions"},
            "seccompProfile": {"ref": "core.v1.SeccompProfile"},
            "supplementalGroups": {"list": {}, "lt": "atomic"},
            "supplementalGroupsPolicy": {},
            "sysctls": {"list": {"ref": "core.v1.Sysctl"}, "lt": "atomic"},
            "windowsOptions": {"ref": "core.v1.WindowsSecurityContextOptions"},
        }
    },
    "core.v1.PodSpec": {
        "fields": {
            "activeDeadlineSeconds": {},
            "affinity": {"ref": "core.v1.Affinity"},
            "automountServiceAccountToken": {},
            "containers": {
                "keys": ["name"],
                "list": {"ref": "core.v1.Container"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "dnsConfig": {"ref": "core.v1.PodDNSConfig"},
            "dnsPolicy": {},
            "enableServiceLinks": {},
            "ephemeralContainers": {
                "keys": ["name"],
                "list": {"ref": "core.v1.EphemeralContainer"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "hostAliases": {
                "keys": ["ip"],
                "list": {"ref": "core.v1.HostAlias"},
                "lt": "map",
                "mk": "ip",
                "ps": "merge",
            },
            "hostIPC": {},
            "hostNetwork": {},
            "hostPID": {},
            "hostUsers": {},
            "hostname": {},
            "hostnameOverride": {},
            "imagePullSecrets": {
                "keys": ["name"],
                "list": {"ref": "core.v1.LocalObjectReference"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "initContainers": {
                "keys": ["name"],
                "list": {"ref": "core.v1.Container"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "nodeName": {},
            "nodeSelector": {"atomic": 1, "map": {}},
            "os": {"ref": "core.v1.PodOS"},
            "overhead": {"map": {}},
            "preemptionPolicy": {},
            "priority": {},
            "priorityClassName": {},
            "readinessGates": {"list": {"ref": "core.v1.PodReadinessGate"}, "lt": "atomic"},
            "resourceClaims": {
                "keys": ["name"],
                "list": {"ref": "core.v1.PodResourceClaim"},
                "lt": "map",
                "mk": "name",
                "ps": "merge,retainKeys",
            },
            "resources": {"ref": "core.v1.ResourceRequirements"},
            "restartPolicy": {},
            "runtimeClassName": {},
            "schedulerName": {},
            "schedulingGates": {
                "keys": ["name"],
                "list": {"ref": "core.v1.PodSchedulingGate"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
            "schedulingGroup": {"ref": "core.v1.PodSchedulingGroup"},
            "securityContext": {"ref": "core.v1.PodSecurityContext"},
            "serviceAccount": {},
            "serviceAccountName": {},
            "setHostnameAsFQDN": {},
            "shareProcessNamespace": {},
            "subdomain": {},
            "terminationGracePeriodSeconds": {},
            "tolerations": {"list": {"ref": "core.v1.Toleration"}, "lt": "atomic"},
            "topologySpreadConstraints": {
                "keys": ["topologyKey", "whenUnsatisfiable"],
                "list": {"ref": "core.v1.TopologySpreadConstraint"},
                "lt": "map",
                "mk": "topologyKey",
                "ps": "merge",
            },
            "volumes": {
                "keys": ["name"],
                "list": {"ref": "core.v1.Volume"},
                "lt": "map",
                "mk": "name",
                "ps": "merge,retainKeys",
            },
        }
    },
    "core.v1.PodStatus": {
        "fields": {
            "allocatedResources": {"map": {}},
            "conditions": {
                "keys": ["type"],
                "list": {"ref": "core.v1.PodCondition"},
                "lt": "map",
                "mk": "type",
                "ps": "merge",
            },
            "containerStatuses": {"list": {"ref": "core.v1.ContainerStatus"}, "lt": "atomic"},
            "ephemeralContainerStatuses": {
                "list": {"ref": "core.v1.ContainerStatus"},
                "lt": "atomic",
            },
            "extendedResourceClaimStatus": {"ref": "core.v1.PodExtendedResourceClaimStatus"},
            "hostIP": {},
            "hostIPs": {
                "list": {"ref": "core.v1.HostIP"},
                "lt": "atomic",
                "mk": "ip",
                "ps": "merge",
            },
            "initContainerStatuses": {"list": {"ref": "core.v1.ContainerStatus"}, "lt": "atomic"},
            "message": {},
            "nodeAllocatableResourceClaimStatuses": {
                "list": {"ref": "core.v1.NodeAllocatableResourceClaimStatus"},
                "lt": "atomic",
            },
            "nominatedNodeName": {},
            "observedGeneration": {},
            "phase": {},
            "podIP": {},
            "podIPs": {
                "keys": ["ip"],
                "list": {"ref": "core.v1.PodIP"},
                "lt": "map",
                "mk": "ip",
                "ps": "merge",
            },
            "qosClass": {},
            "reason": {},
            "resize": {},
            "resourceClaimStatuses": {
                "keys": ["name"],
                "list": {"ref": "core.v1.PodResourceClaimStatus"},
                "lt": "map",
                "mk": "name",
                "ps": "merge,retainKeys",
            },
            "resources": {"ref": "core.v1.ResourceRequirements"},
            "startTime": {},
        }
    },
    "core.v1.PortworxVolumeSource": {"fields": {"fsType": {}, "readOnly": {}, "volumeID": {}}},
    "core.v1.PreferredSchedulingTerm": {
        "fields": {"preference": {"ref": "core.v1.NodeSelectorTerm"}, "weight": {}}
    },
    "core.v1.Probe": {
        "fields": {
            "exec": {"ref": "core.v1.ExecAction"},
            "failureThreshold": {},
            "grpc": {"ref": "core.v1.GRPCAction"},
            "httpGet": {"ref": "core.v1.HTTPGetAction"},
            "initialDelaySeconds": {},
            "periodSeconds": {},
            "successThreshold": {},
            "tcpSocket": {"ref": "core.v1.TCPSocketAction"},
            "terminationGracePeriodSeconds": {},
            "timeoutSeconds": {},
        }
    },
    "core.v1.ProjectedVolumeSource": {
        "fields": {
            "defaultMode": {},
            "sources": {"list": {"ref": "core.v1.VolumeProjection"}, "lt": "atomic"},
        }
    },
    "core.v1.QuobyteVolumeSource": {
        "fields": {
            "group": {},
            "readOnly": {},
            "registry": {},
            "tenant": {},
            "user": {},
            "volume": {},
        }
    },
    "core.v1.RBDVolumeSource": {
        "fields": {
            "fsType": {},
            "image": {},
            "keyring": {},
            "monitors": {"list": {}, "lt": "atomic"},
            "pool": {},
            "readOnly": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
            "user": {},
        }
    },
    "core.v1.ResourceClaim": {"fields": {"name": {}, "request": {}}},
    "core.v1.ResourceFieldSelector": {
        "atomic": 1,
        "fields": {"containerName": {}, "divisor": {}, "resource": {}},
    },
    "core.v1.ResourceHealth": {"fields": {"health": {}, "message": {}, "resourceID": {}}},
    "core.v1.ResourceRequirements": {
        "fields": {
            "claims": {"keys": ["name"], "list": {"ref": "core.v1.ResourceClaim"}, "lt": "map"},
            "limits": {"map": {}},
            "requests": {"map": {}},
        }
    },
    "core.v1.ResourceStatus": {
        "fields": {
            "name": {},
            "resources": {
                "keys": ["resourceID"],
                "list": {"ref": "core.v1.ResourceHealth"},
                "lt": "map",
            },
        }
    },
    "core.v1.SELinuxOptions": {"fields": {"level": {}, "role": {}, "type": {}, "user": {}}},
    "core.v1.ScaleIOVolumeSource": {
        "fields": {
            "fsType": {},
            "gateway": {},
            "protectionDomain": {},
            "readOnly": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
            "sslEnabled": {},
            "storageMode": {},
            "storagePool": {},
            "system": {},
            "volumeName": {},
        }
    },
    "core.v1.SeccompProfile": {"fields": {"localhostProfile": {}, "type": {}}},
    "core.v1.Secret": {
        "fields": {
            "apiVersion": {},
            "data": {"map": {}},
            "immutable": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "stringData": {"map": {}},
            "type": {},
        }
    },
    "core.v1.SecretEnvSource": {"fields": {"name": {}, "optional": {}}},
    "core.v1.SecretKeySelector": {"atomic": 1, "fields": {"key": {}, "name": {}, "optional": {}}},
    "core.v1.SecretProjection": {
        "fields": {
            "items": {"list": {"ref": "core.v1.KeyToPath"}, "lt": "atomic"},
            "name": {},
            "optional": {},
        }
    },
    "core.v1.SecretVolumeSource": {
        "fields": {
            "defaultMode": {},
            "items": {"list": {"ref": "core.v1.KeyToPath"}, "lt": "atomic"},
            "optional": {},
            "secretName": {},
        }
    },
    "core.v1.SecurityContext": {
        "fields": {
            "allowPrivilegeEscalation": {},
            "appArmorProfile": {"ref": "core.v1.AppArmorProfile"},
            "capabilities": {"ref": "core.v1.Capabilities"},
            "privileged": {},
            "procMount": {},
            "readOnlyRootFilesystem": {},
            "runAsGroup": {},
            "runAsNonRoot": {},
            "runAsUser": {},
            "seLinuxOptions": {"ref": "core.v1.SELinuxOptions"},
            "seccompProfile": {"ref": "core.v1.SeccompProfile"},
            "windowsOptions": {"ref": "core.v1.WindowsSecurityContextOptions"},
        }
    },
    "core.v1.ServiceAccount": {
        "fields": {
            "apiVersion": {},
            "automountServiceAccountToken": {},
            "imagePullSecrets": {"list": {"ref": "core.v1.LocalObjectReference"}, "lt": "atomic"},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "secrets": {
                "keys": ["name"],
                "list": {"ref": "core.v1.ObjectReference"},
                "lt": "map",
                "mk": "name",
                "ps": "merge",
            },
        }
    },
    "core.v1.ServiceAccountTokenProjection": {
        "fields": {"audience": {}, "expirationSeconds": {}, "path": {}}
    },
    "core.v1.SleepAction": {"fields": {"seconds": {}}},
    "core.v1.StorageOSVolumeSource": {
        "fields": {
            "fsType": {},
            "readOnly": {},
            "secretRef": {"ref": "core.v1.LocalObjectReference"},
            "volumeName": {},
            "volumeNamespace": {},
        }
    },
    "core.v1.Sysctl": {"fields": {"name": {}, "value": {}}},
    "core.v1.TCPSocketAction": {"fields": {"host": {}, "port": {}}},
    "core.v1.Taint": {"fields": {"effect": {}, "key": {}, "timeAdded": {}, "value": {}}},
    "core.v1.Toleration": {
        "fields": {"effect": {}, "key": {}, "operator": {}, "tolerationSeconds": {}, "value": {}}
    },
    "core.v1.TopologySpreadConstraint": {
        "fields": {
            "labelSelector": {"ref": "meta.v1.LabelSelector"},
            "matchLabelKeys": {"list": {}, "lt": "atomic"},
            "maxSkew": {},
            "minDomains": {},
            "nodeAffinityPolicy": {},
            "nodeTaintsPolicy": {},
            "topologyKey": {},
            "whenUnsatisfiable": {},
        }
    },
    "core.v1.TypedLocalObjectReference": {
        "atomic": 1,
        "fields": {"apiGroup": {}, "kind": {}, "name": {}},
    },
    "core.v1.TypedObjectReference": {
        "fields": {"apiGroup": {}, "kind": {}, "name": {}, "namespace": {}}
    },
    "core.v1.Volume": {
        "fields": {
            "awsElasticBlockStore": {"ref": "core.v1.AWSElasticBlockStoreVolumeSource"},
            "azureDisk": {"ref": "core.v1.AzureDiskVolumeSource"},
            "azureFile": {"ref": "core.v1.AzureFileVolumeSource"},
            "cephfs": {"ref": "core.v1.CephFSVolumeSource"},
            "cinder": {"ref": "core.v1.CinderVolumeSource"},
            "configMap": {"ref": "core.v1.ConfigMapVolumeSource"},
            "csi": {"ref": "core.v1.CSIVolumeSource"},
            "downwardAPI": {"ref": "core.v1.DownwardAPIVolumeSource"},
            "emptyDir": {"ref": "core.v1.EmptyDirVolumeSource"},
            "ephemeral": {"ref": "core.v1.EphemeralVolumeSource"},
            "fc": {"ref": "core.v1.FCVolumeSource"},
            "flexVolume": {"ref": "core.v1.FlexVolumeSource"},
            "flocker": {"ref": "core.v1.FlockerVolumeSource"},
            "gcePersistentDisk": {"ref": "core.v1.GCEPersistentDiskVolumeSource"},
            "gitRepo": {"ref": "core.v1.GitRepoVolumeSource"},
            "glusterfs": {"ref": "core.v1.GlusterfsVolumeSource"},
            "hostPath": {"ref": "core.v1.HostPathVolumeSource"},
            "image": {"ref": "core.v1.ImageVolumeSource"},
            "iscsi": {"ref": "core.v1.ISCSIVolumeSource"},
            "name": {},
            "nfs": {"ref": "core.v1.NFSVolumeSource"},
            "persistentVolumeClaim": {"ref": "core.v1.PersistentVolumeClaimVolumeSource"},
            "photonPersistentDisk": {"ref": "core.v1.PhotonPersistentDiskVolumeSource"},
            "portworxVolume": {"ref": "core.v1.PortworxVolumeSource"},
            "projected": {"ref": "core.v1.ProjectedVolumeSource"},
            "quobyte": {"ref": "core.v1.QuobyteVolumeSource"},
            "rbd": {"ref": "core.v1.RBDVolumeSource"},
            "scaleIO": {"ref": "core.v1.ScaleIOVolumeSource"},
            "secret": {"ref": "core.v1.SecretVolumeSource"},
            "storageos": {"ref": "core.v1.StorageOSVolumeSource"},
            "vsphereVolume": {"ref": "core.v1.VsphereVirtualDiskVolumeSource"},
        }
    },
    "core.v1.VolumeDevice": {"fields": {"devicePath": {}, "name": {}}},
    "core.v1.VolumeMount": {
        "fields": {
            "mountPath": {},
            "mountPropagation": {},
            "name": {},
            "readOnly": {},
            "recursiveReadOnly": {},
            "subPath": {},
            "subPathExpr": {},
        }
    },
    "core.v1.VolumeMountStatus": {
        "fields": {
            "mountPath": {},
            "name": {},
            "readOnly": {},
            "recursiveReadOnly": {},
            "volumeStatus": {"ref": "core.v1.VolumeStatus"},
        }
    },
    "core.v1.VolumeProjection": {
        "fields": {
            "clusterTrustBundle": {"ref": "core.v1.ClusterTrustBundleProjection"},
            "configMap": {"ref": "core.v1.ConfigMapProjection"},
            "downwardAPI": {"ref": "core.v1.DownwardAPIProjection"},
            "podCertificate": {"ref": "core.v1.PodCertificateProjection"},
            "secret": {"ref": "core.v1.SecretProjection"},
            "serviceAccountToken": {"ref": "core.v1.ServiceAccountTokenProjection"},
        }
    },
    "core.v1.VolumeResourceRequirements": {
        "fields": {"limits": {"map": {}}, "requests": {"map": {}}}
    },
    "core.v1.VolumeStatus": {"fields": {"image": {"ref": "core.v1.ImageVolumeStatus"}}},
    "core.v1.VsphereVirtualDiskVolumeSource": {
        "fields": {"fsType": {}, "storagePolicyID": {}, "storagePolicyName": {}, "volumePath": {}}
    },
    "core.v1.WeightedPodAffinityTerm": {
        "fields": {"podAffinityTerm": {"ref": "core.v1.PodAffinityTerm"}, "weight": {}}
    },
    "core.v1.WindowsSecurityContextOptions": {
        "fields": {
            "gmsaCredentialSpec": {},
            "gmsaCredentialSpecName": {},
            "hostProcess": {},
            "runAsUserName": {},
        }
    },
    "events.v1.Event": {
        "fields": {
            "action": {},
            "apiVersion": {},
            "deprecatedCount": {},
            "deprecatedFirstTimestamp": {},
            "deprecatedLastTimestamp": {},
            "deprecatedSource": {"ref": "core.v1.EventSource"},
            "eventTime": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "note": {},
            "reason": {},
            "regarding": {"ref": "core.v1.ObjectReference"},
            "related": {"ref": "core.v1.ObjectReference"},
            "reportingController": {},
            "reportingInstance": {},
            "series": {"ref": "events.v1.EventSeries"},
            "type": {},
        }
    },
    "events.v1.EventSeries": {"fields": {"count": {}, "lastObservedTime": {}}},
    "meta.v1.Condition": {
        "fields": {
            "lastTransitionTime": {},
            "message": {},
            "observedGeneration": {},
            "reason": {},
            "status": {},
            "type": {},
        }
    },
    "meta.v1.DeleteOptions": {
        "fields": {
            "apiVersion": {},
            "dryRun": {"list": {}, "lt": "atomic"},
            "gracePeriodSeconds": {},
            "ignoreStoreReadErrorWithClusterBreakingPotential": {},
            "kind": {},
            "orphanDependents": {},
            "preconditions": {"ref": "meta.v1.Preconditions"},
            "propagationPolicy": {},
        }
    },
    "meta.v1.LabelSelector": {
        "atomic": 1,
        "fields": {
            "matchExpressions": {
                "list": {"ref": "meta.v1.LabelSelectorRequirement"},
                "lt": "atomic",
            },
            "matchLabels": {"map": {}},
        },
    },
    "meta.v1.LabelSelectorRequirement": {
        "fields": {"key": {}, "operator": {}, "values": {"list": {}, "lt": "atomic"}}
    },
    "meta.v1.ManagedFieldsEntry": {
        "fields": {
            "apiVersion": {},
            "fieldsType": {},
            "fieldsV1": {"any": 1},
            "manager": {},
            "operation": {},
            "subresource": {},
            "time": {},
        }
    },
    "meta.v1.ObjectMeta": {
        "fields": {
            "annotations": {"map": {}},
            "creationTimestamp": {},
            "deletionGracePeriodSeconds": {},
            "deletionTimestamp": {},
            "finalizers": {"list": {}, "lt": "set", "ps": "merge"},
            "generateName": {},
            "generation": {},
            "labels": {"map": {}},
            "managedFields": {"list": {"ref": "meta.v1.ManagedFieldsEntry"}, "lt": "atomic"},
            "name": {},
            "namespace": {},
            "ownerReferences": {
                "keys": ["uid"],
                "list": {"ref": "meta.v1.OwnerReference"},
                "lt": "map",
                "mk": "uid",
                "ps": "merge",
            },
            "resourceVersion": {},
            "selfLink": {},
            "uid": {},
        }
    },
    "meta.v1.OwnerReference": {
        "atomic": 1,
        "fields": {
            "apiVersion": {},
            "blockOwnerDeletion": {},
            "controller": {},
            "kind": {},
            "name": {},
            "uid": {},
        },
    },
    "meta.v1.Preconditions": {"fields": {"resourceVersion": {}, "uid": {}}},
    "policy.v1.Eviction": {
        "fields": {
            "apiVersion": {},
            "deleteOptions": {"ref": "meta.v1.DeleteOptions"},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
        }
    },
    "policy.v1.PodDisruptionBudget": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "spec": {"ref": "policy.v1.PodDisruptionBudgetSpec"},
            "status": {"ref": "policy.v1.PodDisruptionBudgetStatus"},
        }
    },
    "policy.v1.PodDisruptionBudgetSpec": {
        "fields": {
            "maxUnavailable": {},
            "minAvailable": {},
            "selector": {"ps": "replace", "ref": "meta.v1.LabelSelector"},
            "unhealthyPodEvictionPolicy": {},
        }
    },
    "policy.v1.PodDisruptionBudgetStatus": {
        "fields": {
            "conditions": {
                "keys": ["type"],
                "list": {"ref": "meta.v1.Condition"},
                "lt": "map",
                "mk": "type",
                "ps": "merge",
            },
            "currentHealthy": {},
            "desiredHealthy": {},
            "disruptedPods": {"map": {}},
            "disruptionsAllowed": {},
            "expectedPods": {},
            "observedGeneration": {},
        }
    },
    "rbac.v1.AggregationRule": {
        "fields": {
            "clusterRoleSelectors": {"list": {"ref": "meta.v1.LabelSelector"}, "lt": "atomic"}
        }
    },
    "rbac.v1.ClusterRole": {
        "fields": {
            "aggregationRule": {"ref": "rbac.v1.AggregationRule"},
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "rules": {"list": {"ref": "rbac.v1.PolicyRule"}, "lt": "atomic"},
        }
    },
    "rbac.v1.ClusterRoleBinding": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "roleRef": {"ref": "rbac.v1.RoleRef"},
            "subjects": {"list": {"ref": "rbac.v1.Subject"}, "lt": "atomic"},
        }
    },
    "rbac.v1.PolicyRule": {
        "fields": {
            "apiGroups": {"list": {}, "lt": "atomic"},
            "nonResourceURLs": {"list": {}, "lt": "atomic"},
            "resourceNames": {"list": {}, "lt": "atomic"},
            "resources": {"list": {}, "lt": "atomic"},
            "verbs": {"list": {}, "lt": "atomic"},
        }
    },
    "rbac.v1.Role": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "rules": {"list": {"ref": "rbac.v1.PolicyRule"}, "lt": "atomic"},
        }
    },
    "rbac.v1.RoleBinding": {
        "fields": {
            "apiVersion": {},
            "kind": {},
            "metadata": {"ref": "meta.v1.ObjectMeta"},
            "roleRef": {"ref": "rbac.v1.RoleRef"},
            "subjects": {"list": {"ref": "rbac.v1.Subject"}, "lt": "atomic"},
        }
    },
    "rbac.v1.RoleRef": {"atomic": 1, "fields": {"apiGroup": {}, "kind": {}, "name": {}}},
    "rbac.v1.Subject": {
        "atomic": 1,
        "fields": {"apiGroup": {}, "kind": {}, "name": {}, "namespace": {}},
    },
}
