# Networking part of the demo (sourced by demo.sh: uses its n, say, show). Two containers talk over the
# bridge, and a published port answers from the host.
say "net: two containers on a user-defined network talk over its bridge, by name"
show n network create --subnet 10.100.200.0/24 demo-net
n run -d --name demo-db --network demo-net busybox sh -c \
  'mkdir -p /w && echo "hello from demo-db over the bridge" > /w/index.html && exec httpd -f -p 80 -h /w' >/dev/null
show n run --rm --network demo-net busybox sh -c \
  "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 demo-db 80 | tail -n 1"

say "net: a published port answers from the host (127.0.0.1 and the host's own address)"
show n run -d --name demo-web -p 18080:80 busybox sh -c \
  'mkdir -p /w && echo "hello from demo-web via -p 18080:80" > /w/index.html && exec httpd -f -p 80 -h /w'
show n ps
sleep 0.2
show curl -s -m 3 http://127.0.0.1:18080/
gw=$(n inspect demo-web | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Info"]["NetworkSettings"]["Gateway"])')
show curl -s -m 3 "http://$gw:18080/"
n rm -f demo-web demo-db >/dev/null
show n network rm demo-net
