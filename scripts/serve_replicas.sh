#!/usr/bin/env bash
# Serves gan-viz as N app processes behind an nginx reverse proxy on PORT, each visitor kept on one replica.
#
# Usage: bash scripts/serve_replicas.sh N PORT        (e.g. 2 7860; replicas listen on PORT+1 ... PORT+N)
# Each replica gets its own GRADIO_TEMP_DIR; nginx (Debian's nginx-light, installed if missing) sends a newcomer to
# the next replica in turn and keeps it there by the cookie gv_replica (deploy/nginx.conf.template). Ctrl-C or
# SIGTERM stops the proxy and every replica. GAN_VIZ_HOST (default 127.0.0.1) is the address the proxy listens on;
# other environment variables (GAN_VIZ_DEVICE, GAN_VIZ_HUB_REPO, ...) reach every replica.
# The replicas share this machine's cores: each gets GAN_VIZ_HEAVY_SLOTS = cores / N (at least 1; set it to choose),
# so N replicas run as many heavy events at once as one process would, each in an interpreter of its own.
set -euo pipefail
n=${1:?usage: serve_replicas.sh N PORT}; port=${2:?usage: serve_replicas.sh N PORT}
host=${GAN_VIZ_HOST:-127.0.0.1}
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx-light (Debian) ..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
dir=$(mktemp -d "${TMPDIR:-/tmp}/gan-viz-replicas.XXXXXX")
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop; rm -rf "$dir"; exit 0' INT TERM   # asked to stop: nothing to keep
trap stop EXIT                               # stopped by itself: the logs stay for a look

threads=${GAN_VIZ_THREADS:-1}; [ "$threads" -ge 1 ] 2>/dev/null || threads=1
cores=$(cd "$root" && "${PYTHON:-python3}" -m gan_viz.ui.cores)
slots=${GAN_VIZ_HEAVY_SLOTS:-$(( cores / (n * threads) > 1 ? cores / (n * threads) : 1 ))}
servers=""; pinned=""
for i in $(seq 1 "$n"); do
  p=$((port + i))
  mkdir -p "$dir/replica-$i"
  GRADIO_SERVER_NAME=127.0.0.1 GRADIO_SERVER_PORT=$p GRADIO_TEMP_DIR="$dir/replica-$i" GAN_VIZ_HEAVY_SLOTS=$slots \
    "${PYTHON:-python3}" "$root/app.py" >"$dir/replica-$i.log" 2>&1 &
  pids+=($!)
  servers+="        server 127.0.0.1:$p;"$'\n'
  pinned+="        \"127.0.0.1:$p\" 127.0.0.1:$p;"$'\n'
done
mkdir -p "$dir/client_body" "$dir/proxy" "$dir/fastcgi" "$dir/uwsgi" "$dir/scgi"
# nginx started as root runs its workers as an unprivileged user: they must reach and write their buffers
chmod 755 "$dir" && chmod 1777 "$dir/client_body" "$dir/proxy" "$dir/fastcgi" "$dir/uwsgi" "$dir/scgi"
"${PYTHON:-python3}" - "$root/deploy/nginx.conf.template" "$dir/nginx.conf" "$dir" "$host" "$port" "$servers" "$pinned" <<'PY'
import sys
src, out, d, host, port, servers, pinned = sys.argv[1:]
text = open(src).read()
for k, v in {"@DIR@": d, "@HOST@": host, "@PORT@": port, "@SERVERS@": servers.rstrip(), "@PINNED@": pinned.rstrip()}.items():
    text = text.replace(k, v)
open(out, "w").write(text)
PY
"$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -g "daemon off;" &
pids+=($!)
echo "gan-viz: $n replicas (ports $((port + 1))-$((port + n)), $slots heavy slots each on $cores cores, logs in $dir)" \
  "behind http://$host:$port" >&2
wait -n "${pids[@]}" || true   # one of them stopped: stop the rest
echo "gan-viz: a replica or the proxy stopped; stopping everything (logs were in $dir)" >&2
