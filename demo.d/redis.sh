# Registry part of the demo (sourced by demo.sh: uses its NSRUN, ROOT, n, say, show). The seed's example for
# real: a redis image built from Debian's packages (demo.d/redis-image.sh, cached after the first demo) is
# pushed by skopeo to a private docker-registry on 127.0.0.1, and nsrun pulls and runs it with a published port.
REG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG="127.0.0.1:$REG_PORT"
mkdir -p "$ROOT/registry"
cat > "$ROOT/registry/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $ROOT/registry/storage
http:
  addr: $REG
YML
docker-registry serve "$ROOT/registry/config.yml" >"$ROOT/registry/log" 2>&1 &
REG_PID=$!
stop_registry() { kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; }
STOP_REGISTRY=stop_registry
trap "stop_registry; cleanup" EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REG_PORT") 2>/dev/null && break; sleep 0.05; done

say "images: a redis image from Debian's packages, in a private registry (skopeo pushes it)"
echo "(building it with mmdebstrap the first time takes a minute or two; later demos use the cache)"
demo.d/redis-image.sh "$ROOT/redis-oci" >/dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$ROOT/redis-oci:latest" "docker://$REG/redis:latest"

say "images: nsrun pulls it (layers in parallel, unpacked as they arrive) and runs it with -p 6379:6379"
show n pull "$REG/redis"
show n image ls
show n run -d --name redis -p 6379:6379 "$REG/redis"
for _ in $(seq 100); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
show redis-cli -h 127.0.0.1 ping
show n rm -f redis
