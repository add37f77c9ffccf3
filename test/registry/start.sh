#!/usr/bin/env bash
# Starts a real OCI registry (CNCF distribution, Debian's docker-registry) on 127.0.0.1 for the tests.
#   eval "$(bash test/registry/start.sh MODE STATE_DIR)"
# MODE: plain (no auth), htpasswd (Basic), tls (Basic over HTTPS with a test CA) or token
# (Bearer, with test/registry/token-server.mjs).
# Prints export lines naming the registry for the tests:
#   plain     MLSEC_TEST_REGISTRY=127.0.0.1:PORT
#   htpasswd  MLSEC_TEST_REGISTRY_BASIC=127.0.0.1:PORT, MLSEC_TEST_REGISTRY_BASIC_USER, _PASSWORD
#   tls       MLSEC_TEST_REGISTRY_TLS=127.0.0.1:PORT, MLSEC_TEST_REGISTRY_TLS_USER, _PASSWORD, _CA (PEM file)
#   token     MLSEC_TEST_REGISTRY_TOKEN=127.0.0.1:PORT, MLSEC_TEST_REGISTRY_TOKEN_USER, _PASSWORD, _REFRESH
# Everything (config, storage, pid files) lives in STATE_DIR; stop.sh STATE_DIR ends it and deletes it.
set -euo pipefail
mode=${1:?usage: start.sh plain|htpasswd|tls|token STATE_DIR}
state=${2:?usage: start.sh plain|htpasswd|tls|token STATE_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "start.sh: $*" >&2; exit 1; }

bin=$(command -v docker-registry || true)
[ -n "$bin" ] || die "docker-registry is not installed (apt-get install docker-registry)"
mkdir -p "$state/data"
chmod 700 "$state"

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# A bcrypt htpasswd file, the only kind docker-registry reads: apache2-utils when it is there,
# else bcryptjs from the project's own dev dependencies.
write_htpasswd() {
  if command -v htpasswd >/dev/null; then
    htpasswd -Bbn "$1" "$2" | sed '/^$/d' >"$3"
  else
    (cd "$here/../.." && node -e '
      const [user, password, file] = process.argv.slice(1);
      import("bcryptjs").then(({ default: bcrypt }) =>
        require("node:fs").writeFileSync(file, `${user}:${bcrypt.hashSync(password, 10)}\n`));
    ' "$1" "$2" "$3") || die "cannot write an htpasswd file (npm ci installs bcryptjs)"
  fi
}

auth=""
tls=""
scheme=http
exports=()
case "$mode" in
  plain) prefix=MLSEC_TEST_REGISTRY ;;
  htpasswd)
    prefix=MLSEC_TEST_REGISTRY_BASIC
    user=mlsec; password=$(random_hex 12)
    write_htpasswd "$user" "$password" "$state/htpasswd"
    auth=$(printf 'auth:\n  htpasswd:\n    realm: mlsec-test\n    path: %s\n' "$state/htpasswd")
    exports+=("${prefix}_USER=$user" "${prefix}_PASSWORD=$password")
    ;;
  tls)
    prefix=MLSEC_TEST_REGISTRY_TLS
    user=mlsec; password=$(random_hex 12)
    write_htpasswd "$user" "$password" "$state/htpasswd"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout "$state/tls-key.pem" -out "$state/ca.pem" -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 || die "openssl could not make the TLS certificate"
    auth=$(printf 'auth:\n  htpasswd:\n    realm: mlsec-test\n    path: %s\n' "$state/htpasswd")
    tls=$(printf '  tls:\n    certificate: %s\n    key: %s\n' "$state/ca.pem" "$state/tls-key.pem")
    scheme=https
    exports+=("${prefix}_USER=$user" "${prefix}_PASSWORD=$password" "${prefix}_CA=$state/ca.pem")
    ;;
  token)
    prefix=MLSEC_TEST_REGISTRY_TOKEN
    user=mlsec; password=$(random_hex 12); refresh=$(random_hex 16)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout "$state/token-key.pem" -out "$state/token-cert.pem" -subj "/CN=mlsec test tokens" >/dev/null 2>&1 \
      || die "openssl could not make the token signing key"
    token_port=$(free_port)
    TOKEN_PORT=$token_port TOKEN_KEY=$state/token-key.pem TOKEN_CERT=$state/token-cert.pem \
      TOKEN_USER=$user TOKEN_PASSWORD=$password TOKEN_REFRESH=$refresh \
      nohup node "$here/token-server.mjs" </dev/null >"$state/token-server.log" 2>&1 &
    echo $! >"$state/token-server.pid"
    for _ in $(seq 1 100); do grep -q listening "$state/token-server.log" 2>/dev/null && break; sleep 0.1; done
    grep -q listening "$state/token-server.log" || { cat "$state/token-server.log" >&2; die "token server did not start"; }
    auth=$(printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: mlsec-test\n    issuer: mlsec-test-issuer\n    rootcertbundle: %s\n' \
      "$token_port" "$state/token-cert.pem")
    exports+=("${prefix}_USER=$user" "${prefix}_PASSWORD=$password" "${prefix}_REFRESH=$refresh")
    ;;
  *) die "unknown mode $mode (plain, htpasswd, tls or token)" ;;
esac

for attempt in 1 2 3; do
  port=$(free_port)
  cat >"$state/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $state/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $(random_hex 16)
$tls
$auth
YAML
  nohup "$bin" serve "$state/config.yml" </dev/null >"$state/registry.log" 2>&1 &
  pid=$!
  echo "$pid" >"$state/registry.pid"
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${tls:+--cacert "$state/ca.pem"} "$scheme://127.0.0.1:$port/v2/" || true)
    case "$code" in 200|401) break ;; esac
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  case "$code" in 200|401)
    echo "export $prefix=127.0.0.1:$port"
    for line in "${exports[@]}"; do echo "export $line"; done
    exit 0 ;;
  esac
  kill "$pid" 2>/dev/null || true
  grep -q 'address already in use' "$state/registry.log" || break   # only a lost port race is retried
done
cat "$state/registry.log" >&2
die "the registry did not start"
