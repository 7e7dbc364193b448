# Shell functions the bench scripts share; sourced, not run.

wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT (10 s at most)
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2; exit 1
}

define_bench_events() { # define_bench_events PORT ADMIN: the platform event types the bench publishes
  for room in $(seq 0 9); do
    curl -fs "http://127.0.0.1:$1/admin/platform-events" -H "Authorization: Bearer $2" \
      -d "{\"name\":\"Bench_${room}__e\",\"fields\":{\"p\":\"number\",\"r\":\"number\",\"s\":\"number\",\"t\":\"number\",\"x\":\"text\"}}" >/dev/null
  done
}

password_token() { # password_token PORT: an access token for $BAYOU_USERNAME (OAuth password flow)
  curl -fs "http://127.0.0.1:$1/services/oauth2/token" -d grant_type=password \
    -d "client_id=$BAYOU_CLIENT_ID" -d "client_secret=$BAYOU_CLIENT_SECRET" \
    -d "username=$BAYOU_USERNAME" --data-urlencode "password=$BAYOU_PASSWORD" |
    sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}
