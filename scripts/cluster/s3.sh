# shellcheck shell=bash
# Sourced by scripts/local-cluster: the cluster's S3 server, in every tier. versitygw (S3 over a
# directory, built from its Go module by scripts/go-tool) runs as a host process on the advertise
# address, where pods of the node tier reach it as they reach CoreDNS, in single-account mode: one
# root access key, made at the first start and kept, owns the bucket `kiln`.
#
#   $DIR/s3/credentials  AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... (mode 600); kept by
#                        down, so every `up` serves the same credentials; reset removes them
#   $DIR/s3/endpoint     http://<address>:<port> of the running server
#   $DIR/s3/data         one directory per bucket; removed by down
#
# The Secret `kiln-s3` in namespace default (and any written by `s3-secret`) holds
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and, not secret, endpoint, bucket and region: the
# keys the kiln/storage tool's environment takes through envFrom.

S3_PORT="${KILN_S3_PORT:-20290}"
S3_BUCKET=kiln
S3_REGION=us-east-1
S3_SECRET_NAME=kiln-s3
VERSITYGW_VERSION="${KILN_VERSITYGW_VERSION:-v1.8.0}"
S3_DIR="$DIR/s3"

# The SHA-256 of an empty payload: SigV4 signs the body's digest (x-amz-content-sha256).
EMPTY_PAYLOAD_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# Makes the root credentials once: a 20-character access key and a 40-character secret, as AWS's.
ensure_s3_credentials() {
  [ -s "$S3_DIR/credentials" ] && return 0
  command -v openssl >/dev/null || die "openssl is not installed (run scripts/setup.sh cluster)"
  mkdir -p -m 700 "$S3_DIR"
  local key secret
  key=$(openssl rand -hex 10 | tr a-f A-F)
  secret=$(openssl rand -hex 20)
  (umask 077
   printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$key" "$secret" \
     > "$S3_DIR/credentials.new")
  mv "$S3_DIR/credentials.new" "$S3_DIR/credentials"
  log "made S3 credentials in $S3_DIR/credentials"
}

# s3_credential KEY: one value of the credentials file.
s3_credential() {
  sed -n "s/^$1=//p" "$S3_DIR/credentials"
}

s3_endpoint() { cat "$S3_DIR/endpoint"; }

start_s3() {
  ensure_s3_credentials
  local vgw
  vgw=$(KILN_VERSITYGW_VERSION="$VERSITYGW_VERSION" "$ROOT/scripts/go-tool" versitygw)
  # A running server keeps the address it was started on (a later `up` may see other settings).
  if ! is_running versitygw; then
    local adv
    adv=$(advertise_address)
    if ss -Hltn "sport = :$S3_PORT" 2>/dev/null | grep -q .; then
      die "port $S3_PORT of the S3 server is taken by another process (KILN_S3_PORT moves it)"
    fi
    mkdir -p "$S3_DIR/data"
    echo "http://$adv:$S3_PORT" > "$S3_DIR/endpoint"
    # The credentials go by environment, not argv, so ps does not show them.
    ROOT_ACCESS_KEY_ID="$(s3_credential AWS_ACCESS_KEY_ID)" \
    ROOT_SECRET_ACCESS_KEY="$(s3_credential AWS_SECRET_ACCESS_KEY)" \
      start versitygw "$vgw" --port "$adv:$S3_PORT" --region "$S3_REGION" --health /health \
        posix "$S3_DIR/data"
  fi
  WAIT_PROCESS=versitygw wait_for "versitygw /health" 60 curl -sf "$(s3_endpoint)/health"
  create_s3_bucket
}

# CreateBucket, signed with the root credentials (curl's SigV4; they go through stdin as curl's
# config, not argv); a bucket we already own is fine.
create_s3_bucket() {
  local answer code
  answer=$(printf 'user = "%s:%s"\n' "$(s3_credential AWS_ACCESS_KEY_ID)" \
             "$(s3_credential AWS_SECRET_ACCESS_KEY)" |
           curl -sS -K - -w '\n%{http_code}' -X PUT --aws-sigv4 "aws:amz:$S3_REGION:s3" \
             -H "x-amz-content-sha256: $EMPTY_PAYLOAD_SHA256" "$(s3_endpoint)/$S3_BUCKET") ||
    die "CreateBucket $S3_BUCKET at $(s3_endpoint) failed: $answer"
  code=${answer##*$'\n'}
  case "$code" in
    200) log "created bucket $S3_BUCKET" ;;
    409) [[ "$answer" == *BucketAlreadyOwnedByYou* ]] ||
           die "CreateBucket $S3_BUCKET answered 409: ${answer%$'\n'*}" ;;
    *) die "CreateBucket $S3_BUCKET answered $code: ${answer%$'\n'*}" ;;
  esac
}

b64() { printf '%s' "$1" | base64 -w0; }

# write_s3_secret NAMESPACE NAME: the Secret of the credentials and endpoint, by server-side apply
# (idempotent; no last-applied annotation copies the values). The values go through stdin.
write_s3_secret() {
  local ns="$1" name="$2"
  kc apply --server-side --force-conflicts --field-manager=kiln-local-cluster -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: $name
  namespace: $ns
  labels:
    app.kubernetes.io/managed-by: kiln-local-cluster
type: Opaque
data:
  AWS_ACCESS_KEY_ID: $(b64 "$(s3_credential AWS_ACCESS_KEY_ID)")
  AWS_SECRET_ACCESS_KEY: $(b64 "$(s3_credential AWS_SECRET_ACCESS_KEY)")
  endpoint: $(b64 "$(s3_endpoint)")
  bucket: $(b64 "$S3_BUCKET")
  region: $(b64 "$S3_REGION")
EOF
}

stop_s3() {
  stop versitygw
  rm -rf "$S3_DIR/data" "$S3_DIR/endpoint"
}
