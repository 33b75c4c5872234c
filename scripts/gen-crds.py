#!/usr/bin/env python3
"""Writes crds/*.yaml: the CustomResourceDefinitions of Kiln's four kinds (group kiln.dev, v1alpha1).

The schemas are written here once, with helpers for the shapes the kinds share (conditions, model
references, durations), and every property carries a description so `kubectl explain` teaches the
API. Run `python3 scripts/gen-crds.py` (PyYAML, scripts/deps/tools.pip) after editing (`--check`
only verifies the committed files are current); tests apply the generated files to a real API
server and check the validations.
"""
import pathlib
import sys

import yaml

import crd_cpp

GROUP = "kiln.dev"
VERSION = "v1alpha1"
DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A storage URI's scheme; the admission webhook parses the rest (controllers/common/uri.h).
STORAGE_URI = r"^(pvc|file|s3|gs|https?)://.+"
SHA256 = r"^sha256:[0-9a-f]{64}$"
# A remote file a DataPipeline step downloads.
REMOTE_URI = r"^(s3|gs|https?)://.+"
URI_FORMS = ("s3://<bucket>/<key>, gs://<bucket>/<key>, https://<host>/<path>, "
             "pvc://<claim>/<path> or file://<path>")
URI_FORMS_REMOTE = "s3://<bucket>/<key>, gs://<bucket>/<key> or https://<host>/<path>"


# ---- schema helpers ------------------------------------------------------------------------------
def obj(description, properties=None, required=None, validations=None, **extra):
    s = {"type": "object", "description": description}
    if properties:
        s["properties"] = properties
    if required:
        s["required"] = required
    if validations:
        s["x-kubernetes-validations"] = [{"rule": r, "message": m} for r, m in validations]
    s.update(extra)
    return s


def string(description, **extra):
    return {"type": "string", "description": description, **extra}


def integer(description, **extra):
    return {"type": "integer", "format": "int32", "description": description, **extra}


def number(description, **extra):
    return {"type": "number", "description": description, **extra}


def boolean(description, **extra):
    return {"type": "boolean", "description": description, **extra}


def array(description, items, **extra):
    return {"type": "array", "description": description, "items": items, **extra}


def duration(description, **extra):
    return string(description + " A duration such as 30s, 5m or 1h30m.", pattern=DURATION,
                  maxLength=32, **extra)


def cpp(name):
    """The C++ struct name of a shape used in several places (see scripts/crd_cpp.py); `json`
    keeps the field as nlohmann::json."""
    return {crd_cpp.HINT_TYPE: name}


def cpp_enum(name):
    """The C++ enum name of a string enum used in several places."""
    return {crd_cpp.HINT_ENUM: name}


def free_object(description):
    return {"type": "object", "description": description,
            "x-kubernetes-preserve-unknown-fields": True}


def string_map(description):
    return {"type": "object", "description": description,
            "additionalProperties": {"type": "string"}}


def name_ref(description):
    return obj(description, {"name": string("Name of the object, in this object's namespace.",
                                            maxLength=253)}, required=["name"],
               **cpp("LocalObjectReference"))


def env_list():
    return array("Environment variables for the container (name and value; valueFrom as in a Pod).",
                 obj("An environment variable.", {
                     "name": string("Variable name.", maxLength=256),
                     "value": string("Variable value."),
                     "valueFrom": free_object("A source for the value, as in a Pod's EnvVar."),
                 }, required=["name"], **cpp("EnvVar")), maxItems=128)


def resources():
    qty = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True,
           "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"}
    return obj("Compute resources, as in a container's resources.", {
        "requests": {"type": "object", "description": "Minimum resources (cpu, memory, ...).",
                     "additionalProperties": qty},
        "limits": {"type": "object", "description": "Maximum resources (cpu, memory, ...).",
                   "additionalProperties": qty},
    }, **cpp("json"))


def pod_template(description):
    return free_object(description + " A full PodTemplateSpec (metadata and spec), as in a Job.")


def conditions():
    return array(
        "Latest observations of the object's state, as metav1.Condition.",
        obj("One aspect of the object's state (metav1.Condition).", {
            "type": string("Type of condition in CamelCase.", maxLength=316),
            "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"],
                             **cpp_enum("ConditionStatus")),
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0,
                                   "description": "The .metadata.generation the condition was set from."},
            "lastTransitionTime": string("When the status last changed.", format="date-time"),
            "reason": string("CamelCase reason for the last transition.", maxLength=1024),
            "message": string("Human-readable details of the last transition.", maxLength=32768),
        }, required=["type", "status", "lastTransitionTime", "reason", "message"],
            **cpp("Condition")),
        **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})


def observed_generation():
    return {"type": "integer", "format": "int64",
            "description": "The .metadata.generation the controller last acted on."}


def storage():
    return obj("How remote URIs (s3://, gs://, https://) of this object are reached. Unset "
               "fields take the chart's storage values (kiln-manager --storage-*).", {
        "secretRef": name_ref("A Secret in this namespace whose keys become the storage tool's "
                              "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for s3://, "
                              "GOOGLE_APPLICATION_CREDENTIALS_JSON for gs://. Without it the pod's "
                              "ServiceAccount identity is used (IRSA, workload identity)."),
        "endpoint": string("S3 endpoint URL (default: the chart's storage.s3.endpoint, else AWS).",
                           maxLength=2048, pattern=r"^https?://\S+$"),
        "region": string("S3 region.", maxLength=64, pattern=r"^[a-z0-9-]*$"),
        "forcePathStyle": boolean("Address buckets as <endpoint>/<bucket> instead of "
                                  "<bucket>.<endpoint> (MinIO, most S3 servers on premises)."),
        "caBundleConfigMapRef": name_ref("A ConfigMap in this namespace whose key ca.crt is the "
                                         "PEM bundle that verifies the endpoint's certificate."),
    }, **cpp("StorageConfig"))


def model_source(description, allow_training_job=True):
    props = {
        "uri": string("Where the model file is: " + URI_FORMS + " (inside the runtime image). "
                      "Remote files are downloaded into the pod before the server starts.",
                      maxLength=2048, pattern=STORAGE_URI),
        "digest": string("sha256:<hex> of the model file, verified after download; a mismatch "
                         "fails the pod with reason ModelFetchFailed. Default: the TrainingJob's "
                         "status.model.digest with fromTrainingJob.", pattern=SHA256,
                         maxLength=71),
        "storage": storage(),
        "format": string("Model format: the runtime backend that loads it.",
                         enum=["xgboost", "onnx", "torchscript"], default="xgboost",
                         **cpp_enum("ModelFormat")),
        "version": string("Version label shown in status and metrics (default: the uri's digest).",
                          maxLength=128),
        "profileUri": string("The baseline profile the serving pods load and serve (the drift "
                             "reference, kiln-runtime profile's output): " + URI_FORMS + ". "
                             "Default: the TrainingJob's status.model.profileUri with "
                             "fromTrainingJob; none with uri.",
                             maxLength=2048, pattern=STORAGE_URI),
    }
    validations = [("has(self.uri)", "uri is required")]
    if allow_training_job:
        props["fromTrainingJob"] = string(
            "Name of a succeeded TrainingJob in this namespace whose output model is served.",
            maxLength=253)
        validations = [("has(self.uri) != has(self.fromTrainingJob)",
                        "exactly one of uri or fromTrainingJob must be set")]
    return obj(description, props, validations=validations,
               **cpp("ModelSource" if allow_training_job else "ModelUri"))


def crd(kind, plural, short, schema_spec, schema_status, columns, description):
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}",
                     "labels": {"app.kubernetes.io/part-of": "kiln"}},
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                      "singular": kind.lower(), "shortNames": short, "categories": ["kiln"]},
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns + [
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "schema": {"openAPIV3Schema": obj(description, {
                    "apiVersion": string("Versioned schema of this representation of an object."),
                    "kind": string("The REST resource this object represents."),
                    "metadata": {"type": "object"},
                    "spec": schema_spec,
                    "status": schema_status,
                }, required=["spec"])},
            }],
        },
    }


# ---- DataPipeline --------------------------------------------------------------------------------
def step_schema(description):
    return obj(description, {
        "name": string("Step name, unique in the pipeline (a DNS label).", maxLength=63,
                       pattern=DNS_LABEL),
        "image": string("Container image of the step.", maxLength=512),
        "imagePullPolicy": string("When to pull the image.", enum=["Always", "IfNotPresent", "Never"],
                                  **cpp_enum("PullPolicy")),
        "command": array("Entrypoint array.", string("An argument."), maxItems=64),
        "args": array("Arguments to the entrypoint; {{parameters.NAME}} and "
                      "{{steps.STEP.outputs.NAME}} are substituted.", string("An argument."),
                      maxItems=256),
        "env": env_list(),
        "resources": resources(),
        "template": pod_template("Instead of the container fields, the pod to run."),
        "dependsOn": array("Steps that must succeed (or be skipped or cached) first.",
                           string("A step name.", maxLength=63), maxItems=32),
        "when": string("Condition on earlier steps, e.g. \"{{steps.validate.outputs.rows}} > 1000 "
                       "&& {{parameters.mode}} == full\" or \"{{steps.train.phase}} == Failed\" (a "
                       "failure handler): ==, !=, <, <=, >, >= (numeric when both sides are "
                       "numbers), &&, ||, ! and parentheses, parsed before the references are "
                       "substituted as values; the step is Skipped when false.",
                       maxLength=1024),
        "retryStrategy": obj("How a failed step is retried.", {
            "limit": integer("Retries after the first attempt.", minimum=0, maximum=100, default=0),
            "retryPolicy": string("Which failures are retried: OnFailure (the container failed), "
                                  "OnError (the pod could not run), Always (both).",
                                  enum=["OnFailure", "OnError", "Always"], default="OnFailure"),
            "backoff": obj("Delay between attempts: duration * factor^(attempt-1), capped at "
                           "maxDuration.", {
                               "duration": duration("First delay.", default="10s"),
                               "factor": number("Growth factor.", minimum=1, default=2),
                               "maxDuration": duration("Largest delay.", default="5m"),
                           }),
        }),
        "timeoutSeconds": integer("Deadline of one attempt (the Job's activeDeadlineSeconds).",
                                  minimum=1),
        "cache": obj("Content-addressed memoization: a step whose image, command, arguments, "
                     "inputs and parameters hash to a recent successful run is marked Cached and "
                     "not run.", {
                         "enabled": boolean("Whether to reuse earlier results.", default=False),
                         "maxAge": duration("How old a reusable result may be (default: forever)."),
                     }),
        "inputs": obj("Inputs of the step.", {
            "parameters": array("Named values substituted into args.", obj("A parameter.", {
                "name": string("Parameter name.", maxLength=63),
                "value": string("Its value (may reference other steps' outputs)."),
            }, required=["name"]), maxItems=64),
            "artifacts": array("Files the step reads. With from or uri, the file (or directory: "
                               "a uri ending in '/') is downloaded into path before the step "
                               "starts (needs spec.workspace); without either, path is a file an "
                               "earlier step left in the workspace.", obj("An artifact.", {
                "name": string("Artifact name.", maxLength=63),
                "path": string("Path in the workspace (relative to its mountPath, or absolute "
                               "under it).", maxLength=1024),
                "from": string("An earlier step's output artifact, "
                               "\"{{steps.STEP.outputs.artifacts.NAME}}\", as uploaded to the "
                               "artifact repository; its digest is verified after download.",
                               maxLength=256,
                               pattern=r"^\{\{\s*steps\.[a-z0-9-]+\.outputs\.artifacts\.[^{}\s]+"
                                       r"\s*\}\}$"),
                "uri": string("A remote file: " + URI_FORMS_REMOTE + "; a uri ending in '/' is "
                              "a directory (every object under it).", maxLength=2048,
                              pattern=REMOTE_URI),
                "digest": string("sha256:<hex> of the file at uri, verified after download.",
                                 pattern=SHA256, maxLength=71),
            }, required=["name", "path"], validations=[
                ("!(has(self.from) && has(self.uri))", "at most one of from or uri"),
                ("!has(self.digest) || has(self.uri)", "digest goes with uri"),
            ]), maxItems=64),
        }),
        "outputs": obj("Outputs of the step.", {
            "parameters": array("Small values the step writes as JSON to its termination "
                                "message (/dev/termination-log): {\"NAME\": \"value\"}.",
                                obj("An output parameter.", {
                                    "name": string("Parameter name.", maxLength=63),
                                    "description": string("What it holds."),
                                }, required=["name"]), maxItems=64),
            "artifacts": array("Files (or directories) the step writes to the workspace: "
                               "after the step's Job succeeds, each is uploaded to the artifact "
                               "repository (spec.artifactRepository, else the chart's) under "
                               "<prefix>/<pipeline>/<run>/<step>/<name>, or without a repository "
                               "checked in the workspace; the step fails when one is missing (it "
                               "needs spec.workspace).", obj("An artifact.", {
                "name": string("Artifact name.", maxLength=63),
                "path": string("Path in the workspace.", maxLength=1024),
            }, required=["name", "path"]), maxItems=64),
        }),
    }, required=["name"], validations=[
        ("has(self.image) != has(self.template)", "exactly one of image or template must be set"),
    ], **cpp("PipelineStep"))


def datapipeline():
    steps = array("The steps of the DAG.", step_schema("A containerized step, run as a Job."),
                  minItems=1, maxItems=64,
                  **{"x-kubernetes-validations": [
                      {"rule": "self.all(s, self.exists_one(t, t.name == s.name))",
                       "message": "step names must be unique"},
                      {"rule": "self.all(s, !has(s.dependsOn) || s.dependsOn.all(d, "
                               "self.exists(t, t.name == d)))",
                       "message": "dependsOn names a step that does not exist"},
                      {"rule": "self.all(s, !has(s.dependsOn) || !s.dependsOn.exists(d, d == s.name))",
                       "message": "a step cannot depend on itself"},
                  ]})
    spec = obj("Desired state of the pipeline.", {
        "steps": steps,
        "parameters": array("Pipeline parameters, referenced as {{parameters.NAME}}.", obj(
            "A parameter.", {
                "name": string("Parameter name.", maxLength=63),
                "value": string("Default value."),
                "description": string("What it is for."),
            }, required=["name"]), maxItems=64),
        "workspace": obj("A volume mounted in every step at mountPath, shared by the run's steps.", {
            "mountPath": string("Where the workspace is mounted.", default="/workspace"),
            "persistentVolumeClaim": obj("An existing claim.", {
                "claimName": string("Name of the PersistentVolumeClaim.", maxLength=253)},
                required=["claimName"]),
            "volumeClaimTemplate": obj("A claim created for each run and deleted with it.", {
                "spec": free_object("PersistentVolumeClaimSpec of the claim."),
            }, required=["spec"]),
        }, validations=[("has(self.persistentVolumeClaim) != has(self.volumeClaimTemplate)",
                         "exactly one of persistentVolumeClaim or volumeClaimTemplate")]),
        "parallelism": integer("Most steps running at once (default: unbounded).", minimum=1),
        "activeDeadlineSeconds": integer("Deadline of a whole run.", minimum=1),
        "schedule": string("Cron schedule (5 fields, or @hourly/@daily/@weekly/@monthly/@yearly) "
                           "for recurring runs; without it the pipeline runs once.",
                           maxLength=128,
                           pattern=r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
                                   r"(\S+\s+){4}\S+)$"),
        "concurrencyPolicy": string("What a scheduled run does when the previous one still runs.",
                                    enum=["Allow", "Forbid", "Replace"], default="Forbid"),
        "successfulRunsHistoryLimit": integer("Finished successful runs kept in status and "
                                              "cluster.", minimum=0, default=3),
        "failedRunsHistoryLimit": integer("Failed runs kept.", minimum=0, default=1),
        "suspend": boolean("Stops scheduling new runs.", default=False),
        "onExit": step_schema("A step run after every run, whatever its result "
                              "({{run.phase}} is substituted)."),
        "ttlSecondsAfterFinished": integer("Delete a finished run's Jobs after this many seconds.",
                                           minimum=0),
        "artifactRepository": obj("Where the steps' output artifacts are uploaded (default: the "
                                  "chart's datapipeline.artifactRepository, kiln-manager "
                                  "--artifact-repository; without either, artifacts stay in the "
                                  "workspace).", {
            "uri": string("The prefix: s3://<bucket>/<prefix> or gs://<bucket>/<prefix>.",
                          maxLength=2048, pattern=r"^(s3|gs)://.+"),
            "storage": storage(),
        }, required=["uri"]),
    }, required=["steps"])
    step_status = obj("State of one step in a run.", {
        "name": string("Step name."),
        "phase": string("Step state.", enum=["Pending", "Running", "Succeeded", "Failed",
                                              "Skipped", "Cached", "Error"]),
        "attempts": integer("Attempts started."),
        "startTime": string("When the first attempt started.", format="date-time"),
        "finishTime": string("When the step finished.", format="date-time"),
        "nextAttemptTime": string("When the next retry starts.", format="date-time"),
        "jobName": string("The Job of the latest attempt."),
        "cacheKey": string("Content hash that memoizes the step: sha256 of its resolved spec, "
                           "the pipeline's parameters, its input artifacts' digests and its "
                           "image's digest (imageID)."),
        "imageID": string("The image digest the step's container ran (the pod's "
                          "containerStatuses[].imageID), part of the cache key of later runs."),
        "message": string("Why the step is in its phase."),
        "outputs": string_map("Output parameters from the termination message."),
        "artifacts": array("Output artifacts uploaded to the artifact repository.", obj(
            "One uploaded artifact.", {
                "name": string("Artifact name (outputs.artifacts[].name)."),
                "uri": string("Where it is; a directory's ends in '/'."),
                "digest": string("sha256:<hex> of the file; of a directory, of its manifest (the "
                                 "sha256sum lines \"<hex>  <relative path>\" of its files, "
                                 "sorted by path in the C locale)."),
            }, required=["name"]),
            **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
    })
    status = obj("Observed state of the pipeline.", {
        "observedGeneration": observed_generation(),
        "conditions": conditions(),
        "phase": string("State of the latest run.", enum=["Pending", "Running", "Succeeded",
                                                          "Failed"]),
        "progress": string("Steps done / total in the latest run, e.g. 3/5."),
        "lastScheduleTime": string("When the last scheduled run started.", format="date-time"),
        "runs": array("Recent runs, newest first (bounded by the history limits).", obj(
            "One execution of the DAG.", {
                "name": string("Run name (labels its Jobs kiln.dev/run)."),
                "phase": string("Run state.", enum=["Pending", "Running", "Succeeded", "Failed"]),
                "startTime": string("Start.", format="date-time"),
                "completionTime": string("End.", format="date-time"),
                "message": string("Why the run is in its phase."),
                "steps": array("Per-step state.", step_status),
            })),
    })
    return crd("DataPipeline", "datapipelines", ["dp"], spec, status, [
        {"name": "State", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Steps", "type": "string", "jsonPath": ".status.progress"},
    ], "DataPipeline runs a DAG of containerized steps with retries, caching, schedules and a "
       "shared workspace.")


# ---- TrainingJob ---------------------------------------------------------------------------------
def trainingjob():
    spec = obj("Desired state of the training job.", {
        "framework": string("How distribution is wired: pytorch (MASTER_ADDR, MASTER_PORT, "
                            "WORLD_SIZE, RANK), xgboost (DMLC_TRACKER_URI, DMLC_TRACKER_PORT, "
                            "DMLC_TASK_ID, DMLC_NUM_WORKER), tensorflow (TF_CONFIG) or generic.",
                            enum=["xgboost", "pytorch", "tensorflow", "generic"]),
        "replicas": integer("Number of workers (pods of an Indexed Job).", minimum=1,
                            maximum=1024, default=1),
        "template": pod_template("The user's training pod."),
        "builtin": obj("Kiln's built-in trainer (kiln-runtime train) instead of a template.", {
            "xgboost": obj("XGBoost from a CSV table.", {
                "data": string("The training table, a CSV file: " + URI_FORMS + ".",
                               pattern=STORAGE_URI, maxLength=2048),
                "label": string("Label column.", maxLength=256),
                "features": array("Feature columns (default: every other column).",
                                  string("A column."), maxItems=4096),
                "objective": string("XGBoost objective.", default="binary:logistic",
                                    enum=["binary:logistic", "reg:squarederror",
                                          "reg:logistic", "multi:softprob"]),
                "numRounds": integer("Boosting rounds.", minimum=1, default=100),
                "params": string_map("Other XGBoost parameters (max_depth, eta, ...)."),
                "validationFraction": number("Share of rows held out for metrics.",
                                             minimum=0.01, maximum=0.9, default=0.2),
                "image": string("Runtime image (default: the manager's configured image).",
                                maxLength=512),
                "resources": resources(),
            }, required=["data", "label"]),
        }, required=["xgboost"]),
        "runPolicy": obj("Restarts, deadlines and clean-up.", {
            "backoffLimit": integer("Retries before the job fails.", minimum=0, default=3),
            "activeDeadlineSeconds": integer("Deadline of the whole job.", minimum=1),
            "ttlSecondsAfterFinished": integer("Delete children this long after finishing.",
                                               minimum=0),
            "cleanPodPolicy": string("Which pods are deleted when the job finishes.",
                                     enum=["None", "Running", "All"], default="Running"),
            "restartPolicy": string("OnFailure retries any failure; ExitCode retries only "
                                    "retryable exit codes (>128, signals) and fails on 1-127.",
                                    enum=["OnFailure", "ExitCode"], default="OnFailure"),
            "gangRestart": boolean("Restart every worker when one fails (distributed jobs "
                                   "cannot continue with a missing rank).", default=True),
        }),
        "output": obj("Where the trainer writes the model, metrics.json and the baseline profile.", {
            "modelUri": string("A directory: pvc://<claim>/<path>, or a prefix s3://<bucket>/<key> "
                               "or gs://<bucket>/<key> where model, metrics.json and "
                               "profile.json are uploaded after the trainer exits.",
                               pattern=r"^(pvc|file|s3|gs)://.+", maxLength=2048),
        }, required=["modelUri"]),
        "storage": storage(),
    }, required=["framework", "output"], validations=[
        ("has(self.template) != has(self.builtin)", "exactly one of template or builtin"),
        ("!has(self.builtin) || self.framework == 'xgboost'",
         "builtin.xgboost requires framework xgboost"),
    ])
    status = obj("Observed state of the training job.", {
        "observedGeneration": observed_generation(),
        "conditions": conditions(),
        "phase": string("Job state.", enum=["Created", "Running", "Restarting", "Succeeded",
                                            "Failed"]),
        "jobName": string("The Indexed Job running the workers."),
        "startTime": string("Start.", format="date-time"),
        "completionTime": string("End.", format="date-time"),
        "restarts": integer("Gang restarts so far."),
        "replicaStatuses": obj("Worker counts.", {
            "active": integer("Running workers."),
            "succeeded": integer("Finished workers."),
            "failed": integer("Failed workers."),
        }),
        "model": obj("The trained model, from the trainer's termination message.", {
            "uri": string("Where it is."),
            "digest": string("sha256 of the model file."),
            "format": string("Model format."),
            "metrics": {"type": "object", "description": "Held-out metrics (auc, logloss, rmse).",
                        "additionalProperties": {"type": "number"}},
            "profileUri": string("Where the baseline profile is."),
        }),
    })
    return crd("TrainingJob", "trainingjobs", ["tj"], spec, status, [
        {"name": "Framework", "type": "string", "jsonPath": ".spec.framework"},
        {"name": "State", "type": "string", "jsonPath": ".status.phase"},
        {"name": "AUC", "type": "number", "jsonPath": ".status.model.metrics.auc",
         "priority": 1},
    ], "TrainingJob trains a model, single or distributed, and records the model, its metrics and "
       "a baseline profile.")


# ---- ModelDeployment -----------------------------------------------------------------------------
def modeldeployment():
    metric = obj("An analysis metric with its threshold.", {
        "name": string("errorRate (max share of failed requests), latencyP99 (max seconds), "
                       "agreement (min share of predictions equal to stable's), outputDrift "
                       "(max Jensen-Shannon distance of outputs vs stable).",
                       enum=["errorRate", "latencyP99", "agreement", "outputDrift"]),
        "threshold": number("Limit for the metric (a maximum, or a minimum for agreement)."),
    }, required=["name", "threshold"])
    spec = obj("Desired state of the deployment.", {
        "model": model_source("The stable model."),
        "replicas": integer("Stable replicas (ignored with autoscaling).", minimum=0, default=1),
        "autoscaling": obj("A HorizontalPodAutoscaler for the stable variant.", {
            "minReplicas": integer("Lower bound.", minimum=1, default=1),
            "maxReplicas": integer("Upper bound.", minimum=1),
            "targetCPUUtilizationPercentage": integer("CPU target.", minimum=1, maximum=100,
                                                      default=80),
        }, required=["maxReplicas"], validations=[
            ("self.minReplicas <= self.maxReplicas", "minReplicas must not exceed maxReplicas")]),
        "resources": resources(),
        "runtime": obj("The serving runtime.", {
            "image": string("kiln-runtime image (default: the manager's configured image).",
                            maxLength=512),
            "imagePullPolicy": string("When to pull it.", enum=["Always", "IfNotPresent", "Never"],
                                      **cpp_enum("PullPolicy")),
        }),
        "canary": obj("A second model taking a share of live traffic.", {
            "model": model_source("The canary model."),
            "trafficPercent": integer("Share of requests sent to the canary.", minimum=0,
                                      maximum=100, default=10),
        }, required=["model"]),
        "shadow": obj("A model that sees a copy of live traffic; its answers are compared, never "
                      "returned.", {
                          "model": model_source("The shadow model."),
                          "mirrorPercent": integer("Share of requests mirrored.", minimum=0,
                                                   maximum=100, default=100),
                      }, required=["model"]),
        "rollout": obj("Gated progressive rollout of the canary.", {
            "steps": array("Rollout steps, in order.", obj("A step.", {
                "setWeight": integer("Canary traffic percent from this step on.", minimum=0,
                                     maximum=100),
                "pause": obj("Wait before the next step.", {
                    "duration": duration("How long (without it: until the annotation "
                                         "kiln.dev/promote is set)."),
                }),
                "analysis": boolean("Run the analysis during this step.", default=True),
            }), maxItems=32),
            "analysis": obj("Checks of the canary against thresholds, from router metrics.", {
                "interval": duration("Between measurements.", default="30s"),
                "failureLimit": integer("Failed measurements that roll back.", minimum=0,
                                        default=1),
                "minRequests": integer("Requests a measurement needs to count.", minimum=0,
                                       default=50),
                "metrics": array("What is checked.", metric, maxItems=8),
            }),
            "autoPromote": boolean("Promote the canary to stable after the last step.",
                                   default=True),
            "autoRollback": boolean("Send all traffic back to stable when analysis fails.",
                                    default=True),
        }),
    }, required=["model"])
    variant = obj("A served variant.", {
        "version": string("Model version."),
        "uri": string("Model uri."),
        "format": string("Model format."),
        "profileUri": string("Baseline profile the pods are given (drift monitoring)."),
        "digest": string("sha256:<hex> the fetched model file is checked against (\"\": not checked)."),
        "storage": storage(),
        "readyReplicas": integer("Ready pods."),
    })
    status = obj("Observed state of the deployment.", {
        "observedGeneration": observed_generation(),
        "conditions": conditions(),
        "stable": variant, "canary": variant, "shadow": variant,
        "traffic": obj("Current split.", {
            "stable": integer("Percent to stable."),
            "canary": integer("Percent to canary."),
            "shadowMirror": integer("Percent mirrored to shadow."),
        }),
        "rollout": obj("Rollout progress.", {
            "step": integer("Index of the current step."),
            "phase": string("Rollout state.", enum=["Idle", "Progressing", "Paused", "Promoted",
                                                    "RolledBack"]),
            "stepStartTime": string("When the step began.", format="date-time"),
            "failedAnalyses": integer("Failed measurements in this rollout."),
            "halted": boolean("Paused by failed analysis with autoRollback off: the canary holds "
                              "at its weight, without measurements, until the spec changes (a "
                              "new canary, autoRollback: true, or a failureLimit above "
                              "failedAnalyses)."),
        }),
        "lastAnalysis": obj("The latest measurement.", {
            "time": string("When.", format="date-time"),
            "passed": boolean("All metrics within thresholds."),
            "requests": integer("Canary requests measured."),
            "metrics": array("Per metric.", obj("A measured metric.", {
                "name": string("Metric."), "value": number("Measured."),
                "threshold": number("Limit."), "passed": boolean("Within the limit."),
            })),
            "canary": obj("The canary measured, whose window the counters end.", {
                "uri": string("Its model URI."), "version": string("Its model version."),
            }),
            "baseline": boolean("The counters kept were another canary's (the previous "
                                "rollout's): this measurement only started this canary's "
                                "window and was not counted."),
            "routerCounters": free_object(
                "The routers' cumulative counters at this measurement, per variant: where the next "
                "measurement's window starts (kept here so a new leader continues the window)."),
        }),
        "url": string("The endpoint Service URL inside the cluster (the router while traffic is split, else the stable pods)."),
    })
    return crd("ModelDeployment", "modeldeployments", ["md"], spec, status, [
        {"name": "Stable", "type": "string", "jsonPath": ".status.stable.version"},
        {"name": "Canary", "type": "string", "jsonPath": ".status.canary.version"},
        {"name": "Weight", "type": "integer", "jsonPath": ".status.traffic.canary"},
        {"name": "Ready", "type": "string",
         "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "URL", "type": "string", "jsonPath": ".status.url", "priority": 1},
    ], "ModelDeployment serves models with canary and shadow variants, a router, and a gated "
       "progressive rollout.")


# ---- DriftMonitor --------------------------------------------------------------------------------
def driftmonitor():
    feature = obj("A monitored feature and its test.", {
        "name": string("Feature (model input) name.", maxLength=256),
        "type": string("Column type, checked against the baseline's (which decides how the "
                       "column is profiled): a mismatch is reported as the feature's error and the "
                       "feature is not evaluated.", enum=["numerical", "categorical"]),
        "test": string("Statistic: ks (Kolmogorov-Smirnov p-value), psi (Population Stability "
                       "Index), jensenshannon (distance, base 2), wasserstein (normed), chisquare "
                       "(p-value), ztest (two proportions), hellinger (distance), linf (L-infinity "
                       "distance of the category shares), or auto (chosen by type and reference "
                       "size as Evidently does).",
                       enum=["auto", "ks", "psi", "jensenshannon", "wasserstein", "chisquare",
                             "ztest", "hellinger", "linf"], default="auto"),
        "threshold": number("Drift when a p-value is below it, or a distance at or above it "
                            "(default: 0.05 for p-values, 0.1 for distances, 0.2 for PSI).",
                            minimum=0),
    }, required=["name"])
    spec = obj("Desired state of the monitor.", {
        "target": obj("What is monitored.", {
            "modelDeploymentRef": name_ref("The ModelDeployment whose traffic is profiled."),
        }, required=["modelDeploymentRef"]),
        "baseline": obj("The reference profile. Without it: the profile the target's stable model "
                        "was trained with (it follows promotions). With fromTrainingJob or uri "
                        "the baseline is pinned: the monitor sets the target's annotation "
                        "kiln.dev/baseline-profile, and its stable pods load that profile.", {
            "fromTrainingJob": string("A TrainingJob in this namespace whose output profile "
                                      "(status.model.profileUri) is the baseline.",
                                      maxLength=253),
            "uri": string("A profile file (kiln-runtime profile's output): " + URI_FORMS + ".",
                          pattern=STORAGE_URI, maxLength=2048),
        }, validations=[("!(has(self.fromTrainingJob) && has(self.uri))",
                         "at most one of fromTrainingJob or uri")]),
        "interval": duration("Between evaluations.", default="5m"),
        "window": obj("The live data an evaluation compares.", {
            "duration": duration("Sliding window of served traffic, asked of each stable serving "
                                 "pod; a pod keeps at most an hour (kiln-runtime serve "
                                 "--profile-window-seconds).", default="1h"),
            "minSamples": integer("Fewer rows than this: no verdict.", minimum=1, default=500),
        }),
        "features": array("Features to monitor (default: every feature of the baseline, tests "
                          "chosen automatically).", feature, maxItems=1024),
        "correction": string("Multiple-testing correction of p-values.",
                             enum=["none", "bonferroni", "fdr"], default="none"),
        "driftShare": number("Dataset drift when at least this share of features drifts.",
                             minimum=0, maximum=1, default=0.5),
        "actions": obj("What happens on dataset drift.", {
            "retrain": obj("Start a retraining.", {
                "trainingJobTemplate": obj("A TrainingJob created on drift.", {
                    "metadata": free_object("Labels and annotations of the created job."),
                    "spec": free_object("The TrainingJob spec."),
                }, required=["spec"]),
                "dataPipelineRef": name_ref("Instead, a DataPipeline to run (by annotation)."),
                "cooldown": duration("Least time between two retrains.", default="6h"),
                "maxRetrainsPerDay": integer("Cap on retrains in 24 hours.", minimum=0,
                                             default=2),
            }, validations=[("has(self.trainingJobTemplate) != has(self.dataPipelineRef)",
                             "exactly one of trainingJobTemplate or dataPipelineRef")]),
            "rollout": obj("Send the retrained model to the target's canary.", {
                "enabled": boolean("Whether to do it.", default=False),
                "trafficPercent": integer("Canary share.", minimum=0, maximum=100, default=10),
            }),
        }),
    }, required=["target"])
    status = obj("Observed state of the monitor.", {
        "observedGeneration": observed_generation(),
        "conditions": conditions(),
        "lastEvaluation": obj("The latest evaluation.", {
            "time": string("When.", format="date-time"),
            "samples": {"type": "integer", "format": "int64", "description": "Rows compared."},
            "windowSeconds": number("Span of served traffic the live profiles covered, in seconds "
                                    "(spec.window.duration, clipped to what the serving pods keep)."),
            "datasetDrift": boolean("Whether the dataset drifted."),
            "driftShare": number("Share of drifted features."),
            "features": array("Per feature.", obj("A feature's result.", {
                "name": string("Feature."), "type": string("Type."), "test": string("Test."),
                "statistic": number("Statistic or distance."),
                "pValue": number("p-value (tests that have one, after correction)."),
                "threshold": number("Threshold."), "drifted": boolean("Verdict."),
                "error": string("Why the feature could not be evaluated (it is not counted)."),
            })),
        }),
        "baselineUri": string("The baseline profile of the last evaluation (\"\": the stable "
                              "model's own)."),
        "lastRetrain": obj("The latest retraining.", {
            "time": string("When.", format="date-time"),
            "trainingJob": string("The TrainingJob created."),
        }),
        "retrainsToday": integer("Retrains in the last 24 hours."),
    })
    return crd("DriftMonitor", "driftmonitors", ["dm"], spec, status, [
        {"name": "Target", "type": "string", "jsonPath": ".spec.target.modelDeploymentRef.name"},
        {"name": "Drift", "type": "string",
         "jsonPath": ".status.conditions[?(@.type==\"DriftDetected\")].status"},
        {"name": "Share", "type": "number", "jsonPath": ".status.lastEvaluation.driftShare"},
    ], "DriftMonitor compares live traffic with the training baseline and closes the loop by "
       "retraining and rolling out.")


# C++ names of the objects and enums whose derived name (parent + field) would read badly.
CPP_NAMES = {
    "DataPipeline.spec.parameters[]": "PipelineParameter",
    "DataPipeline.spec.workspace": "Workspace",
    "DataPipeline.spec.artifactRepository": "ArtifactRepository",
    "DataPipeline.status.runs[].steps[].artifacts[]": "StepArtifact",
    "DataPipeline.spec.concurrencyPolicy": "ConcurrencyPolicy",
    "DataPipeline.status.phase": "RunPhase",
    "DataPipeline.status.runs[]": "PipelineRun",
    "DataPipeline.status.runs[].phase": "RunPhase",
    "DataPipeline.status.runs[].steps[]": "StepStatus",
    "DataPipeline.status.runs[].steps[].phase": "StepPhase",
    "TrainingJob.spec.framework": "Framework",
    "TrainingJob.spec.builtin": "BuiltinTrainer",
    "TrainingJob.spec.builtin.xgboost": "XGBoostTrainer",
    "TrainingJob.spec.builtin.xgboost.objective": "XGBoostObjective",
    "TrainingJob.spec.runPolicy": "RunPolicy",
    "TrainingJob.spec.runPolicy.cleanPodPolicy": "CleanPodPolicy",
    "TrainingJob.spec.runPolicy.restartPolicy": "RestartPolicy",
    "TrainingJob.spec.output": "TrainingOutput",
    "TrainingJob.status.phase": "TrainingPhase",
    "TrainingJob.status.replicaStatuses": "ReplicaStatuses",
    "TrainingJob.status.model": "TrainedModel",
    "ModelDeployment.spec.autoscaling": "AutoscalingSpec",
    "ModelDeployment.spec.runtime": "RuntimeSpec",
    "ModelDeployment.spec.canary": "CanarySpec",
    "ModelDeployment.spec.shadow": "ShadowSpec",
    "ModelDeployment.spec.rollout": "RolloutSpec",
    "ModelDeployment.spec.rollout.steps[]": "RolloutStep",
    "ModelDeployment.spec.rollout.steps[].pause": "RolloutPause",
    "ModelDeployment.spec.rollout.analysis": "AnalysisSpec",
    "ModelDeployment.spec.rollout.analysis.metrics[]": "AnalysisMetric",
    "ModelDeployment.spec.rollout.analysis.metrics[].name": "AnalysisMetricName",
    "ModelDeployment.status.stable": "VariantStatus",
    "ModelDeployment.status.canary": "VariantStatus",
    "ModelDeployment.status.shadow": "VariantStatus",
    "ModelDeployment.status.traffic": "TrafficStatus",
    "ModelDeployment.status.rollout": "RolloutStatus",
    "ModelDeployment.status.rollout.phase": "RolloutPhase",
    "ModelDeployment.status.lastAnalysis": "AnalysisStatus",
    "ModelDeployment.status.lastAnalysis.metrics[]": "MeasuredMetric",
    "ModelDeployment.status.lastAnalysis.canary": "AnalysedCanary",
    "DriftMonitor.spec.target": "MonitorTarget",
    "DriftMonitor.spec.baseline": "BaselineSource",
    "DriftMonitor.spec.window": "MonitorWindow",
    "DriftMonitor.spec.features[]": "MonitoredFeature",
    "DriftMonitor.spec.features[].type": "FeatureType",
    "DriftMonitor.spec.features[].test": "DriftTest",
    "DriftMonitor.spec.correction": "Correction",
    "DriftMonitor.spec.actions": "MonitorActions",
    "DriftMonitor.spec.actions.retrain": "RetrainAction",
    "DriftMonitor.spec.actions.retrain.trainingJobTemplate": "TrainingJobTemplate",
    "DriftMonitor.spec.actions.rollout": "RolloutAction",
    "DriftMonitor.status.lastEvaluation": "Evaluation",
    "DriftMonitor.status.lastEvaluation.features[]": "FeatureResult",
    "DriftMonitor.status.lastRetrain": "RetrainRecord",
}


def check_descriptions(schema, path):
    """Every property has a description (so kubectl explain teaches the API)."""
    for name, prop in schema.get("properties", {}).items():
        if name not in ("metadata",) and "description" not in prop:
            sys.exit(f"gen-crds: {path}.{name} has no description")
        check_descriptions(prop, f"{path}.{name}")
    if "items" in schema:
        check_descriptions(schema["items"], path + "[]")


def field_rows(schema, path, rows):
    """(path, type, default/constraints, description) of every field below `schema`, depth first."""
    for name, prop in schema.get("properties", {}).items():
        if name in ("apiVersion", "kind", "metadata"):
            continue
        sub = f"{path}.{name}" if path else name
        kind = prop.get("type", "int-or-string" if prop.get("x-kubernetes-int-or-string") else "")
        if kind == "array":
            kind = f"[]{prop['items'].get('type', 'object')}"
        notes = []
        if "default" in prop:
            notes.append(f"default `{prop['default']}`")
        if "enum" in prop:
            notes.append("one of " + ", ".join(f"`{e}`" for e in prop["enum"]))
        for bound, word in (("minimum", "≥"), ("maximum", "≤")):
            if bound in prop:
                notes.append(f"{word} {prop[bound]}")
        for rule in prop.get("x-kubernetes-validations", []):
            notes.append(rule["message"])
        desc = prop.get("description", "").replace("|", "\\|").replace("\n", " ")
        rows.append((sub, kind, "; ".join(notes).replace("|", "\\|"), desc))
        field_rows(prop, sub, rows)
        if "items" in prop:
            field_rows(prop["items"], sub + "[]", rows)


def api_reference(crds):
    out = ["# API reference (kiln.dev/v1alpha1)", "",
           "Generated by `scripts/gen-crds.py` from the CRD schemas; `kubectl explain <kind>.<field>` "
           "shows the same text. Every kind has the status subresource, `status.observedGeneration` "
           "and `status.conditions` (metav1.Condition), short names and the category `kiln` "
           "(`kubectl get kiln`).", ""]
    for c in crds:
        names = c["spec"]["names"]
        schema = c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        out += [f"## {names['kind']}", "", schema["description"], "",
                f"Short name `{names['shortNames'][0]}`. Printer columns: " + ", ".join(
                    col["name"] for col in c["spec"]["versions"][0]["additionalPrinterColumns"]) + ".",
                ""]
        for rule in schema["properties"]["spec"].get("x-kubernetes-validations", []):
            out.append(f"- spec: {rule['message']}")
        for part in ("spec", "status"):
            rows = []
            field_rows({"properties": {part: schema["properties"][part]}}, "", rows)
            out += ["", f"### {names['kind']} {part}", "", "| field | type | constraints | description |",
                    "|---|---|---|---|"]
            out += [f"| `{r[0]}` | {r[1]} | {r[2]} | {r[3]} |" for r in rows[1:]]
        out.append("")
    return "\n".join(out) + "\n"


def write(path, text, check, stale):
    """Writes `text` to `path`, or with `check` only records whether it differs."""
    if check:
        if not path.exists() or path.read_text() != text:
            stale.append(path)
    else:
        path.write_text(text)


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    root = pathlib.Path(__file__).resolve().parent.parent
    # The repository's crds/ and the Helm chart's crds/ (Helm installs those before the release).
    outs = [root / "crds", root / "charts" / "kiln" / "crds"]
    crds = [datapipeline(), trainingjob(), modeldeployment(), driftmonitor()]
    header, source = crd_cpp.render(crds, "controllers/api/v1alpha1.h", CPP_NAMES)
    write(root / "controllers" / "api" / "v1alpha1.h", header, check, stale)
    write(root / "controllers" / "api" / "v1alpha1.cc", source, check, stale)
    crds = [crd_cpp.strip_hints(c) for c in crds]
    (root / "docs").mkdir(exist_ok=True)
    write(root / "docs" / "api.md", api_reference(crds), check, stale)
    for c in crds:
        check_descriptions(c["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
                           c["spec"]["names"]["kind"])
        text = ("# Generated by scripts/gen-crds.py; do not edit.\n"
                + yaml.safe_dump(c, sort_keys=False, width=100))
        for out in outs:
            out.mkdir(parents=True, exist_ok=True)
            write(out / f"{GROUP}_{c['spec']['names']['plural']}.yaml", text, check, stale)
    if stale:
        sys.exit("gen-crds: out of date (run scripts/gen-crds.py): "
                 + ", ".join(str(p.relative_to(root)) for p in stale))


if __name__ == "__main__":
    main()
