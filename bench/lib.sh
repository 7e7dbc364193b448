# Shell functions the bench scripts share; sourced, not run.

wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT (10 s at most)
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2; exit 1
}
