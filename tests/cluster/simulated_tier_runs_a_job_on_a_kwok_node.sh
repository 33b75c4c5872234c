# The simulated tier turns a Job into a Pod that the scheduler places on a KWOK node and that
# reaches Succeeded; the Job completes.
source "$(dirname "$0")/cluster_env.sh"

up simulated
[ "$(kc get nodes -l type=kwok -o name | wc -l)" -ge 1 ] || fail "no KWOK nodes"

kc apply -f - <<'YAML'
apiVersion: batch/v1
kind: Job
metadata:
  name: hello
  namespace: default
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: hello
        image: busybox
        command: ["echo", "hello"]
YAML
kc wait --for=condition=Complete job/hello --timeout=120s || {
  kc describe job hello; kc get pods -o wide; fail "job did not complete"
}
node=$(kc get pods -l job-name=hello -o jsonpath='{.items[0].spec.nodeName}')
[[ "$node" == kwok-node-* ]] || fail "pod ran on '$node', not a KWOK node"
phase=$(kc get pods -l job-name=hello -o jsonpath='{.items[0].status.phase}')
[ "$phase" = Succeeded ] || fail "pod phase $phase"
echo "PASS: simulated tier (pod on $node)"
