#!/bin/sh
# tests/test_serve.sh - `nanogen serve` end to end over loopback: trains a tiny char GPT (and,
# with Fashion-MNIST here, a 2-D VAE and a GAN: a few batches each), starts the server on a free
# port (--port 0: the port read from its first stdout line) and runs tests/serve_client.py's
# checks against it (python3's standard library: http.client, sockets, threads):
#   routes       every route's code and shape: models, completions plain and streamed (SSE
#                parsed: a chunk per token, finish chunks, the usage chunk, [DONE]), stop,
#                logprobs, n, seeds, chat (400 no_chat_template), next, attention, the image
#                routes (PNG), healthz, metrics, the playground's files
#   errors       bad JSON, a table of wrong types for every field, deep nesting, unknown model
#                (404), unknown route, wrong method (405), a 2 MiB body (413), max_tokens over
#                --max-tokens: each its code and an OpenAI-shaped {"error": {message, type, code}}
#   same         temperature 0 (and seeded temperature 0.9, top-k, top-p, choice 1 of n 2): the
#                plain text, the streamed text and `nanogen sample --batch --num-samples 2` agree,
#                for 80 tokens (the context, 32, fills: cache rebuilds) and a prompt over the context
#   independent  a seeded request: the same text alone and beside 8 other streams
#   faults       a client gone mid-stream frees its slot (nanogen_active_streams back to 0, its
#                generation stopped); a stalled reader, a body sent byte by byte and a half-sent
#                head do not block another request; abandoned plain requests free their slots
#   leak         RSS after 200 more requests within 2 MB of the RSS after a warm-up of 100
#                (the server runs with MALLOC_ARENA_MAX=2: its RSS follows its heap, not the
#                number of malloc arenas; make test SANITIZE=1 adds LeakSanitizer at its exit)
#   nocors       no Access-Control-* header without --cors
# then SIGTERM during a stream (the stream ends with [DONE]; exit 0; the port closed), and a
# second server with --api-key KEY --cors ORIGIN --max-streams 1 --queue 1: 401 without the key
# or with a wrong one, the open routes, CORS headers and the preflight, 429 when the queue is
# full; SIGTERM, exit 0; a third with --name fast --timeout 1 and NANOGEN_API_KEY in its
# environment: the name, the key, a long completion ended by the timeout (503, or when streamed
# an error event and [DONE]).
# No check depends on the machine's speed: waits are bounded polls or requests long in tokens.
# Skipped (one line) when the binary was built without libmicrohttpd (serve exits 2 saying so).
NAME=tests/test_serve.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus
export NANOGEN_GEMM="${NANOGEN_GEMM:-own}"   # as tests/run.sh: no GEMM timing at start-up
unset NANOGEN_API_KEY                         # the servers get a key only where a check gives one
CLIENT_TO=""
command -v timeout >/dev/null 2>&1 && CLIENT_TO="timeout -k 5 900"

# the serve command built in? (without libmicrohttpd it exits 2 saying so, whatever it is given)
run $NG serve "$TMP/no-such-model" --port 0; rc=$?
if [ "$rc" -eq 2 ] && grep -qi "libmicrohttpd" "$ERR"; then
    skip "nanogen was built without libmicrohttpd (no serve command)" "all of it"; finish
fi
if [ "$rc" -eq 1 ] && err_has "no-such-model"; then ok "serve: a missing model directory: exit 1, named"
else bad "serve: a missing model directory" "exit $rc, expected 1 and an error naming it"; fi

M=$TMP/models
T1="--threads 1"
TINY="--n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 8"
expect_ok "train a tiny char GPT (5 steps)" $NG train gpt --data "$SH" --out "$M/tiny" $TINY --steps 5 --eval-every 0 --no-final-eval $T1 || finish
IMAGES=""
NOIMG="--no-images"
if [ -n "$NG_FASHION" ] || [ -d /usr/share/datasets/fashion-mnist ]; then
    DATA=${NG_FASHION:-fashion-mnist}
    expect_ok "train a VAE, latent 2 (5 batches)" $NG train vae --data "$DATA" --out "$M/vae" --epochs 1 --max-batches 5 --latent 2 $T1 &&
    expect_ok "train a GAN (2 batches of 16)" $NG train gan --data "$DATA" --out "$M/gan" --epochs 1 --max-batches 2 --batch-size 16 $T1 &&
    IMAGES="$M/vae $M/gan" && NOIMG=""
fi
[ -n "$IMAGES" ] || skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "the image routes" 1

# [SENV=VAR=VALUE] start_server NAME ARGS...: nanogen serve ARGS --port 0 in the background (with
# SENV in its environment); SPID, SPORT (empty when it did not start: its stderr is shown)
start_server() {
    _n=$1; shift
    env $SENV $NG serve "$@" --port 0 > "$TMP/$_n.out" 2> "$TMP/$_n.err" &
    SPID=$!; BG=$SPID; SPORT=""
    _i=0
    while [ $_i -lt 1200 ]; do   # up to 2 minutes to load the models and bind
        SPORT=$(head -n 1 "$TMP/$_n.out" | sed -n 's|^nanogen serve: http://[^ ]*:\([0-9][0-9]*\)/ ([0-9]* models*)$|\1|p')
        [ -n "$SPORT" ] && break
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1; _i=$((_i + 1))
    done
    if [ -n "$SPORT" ]; then ok "serve $_n: listening (port $SPORT)"
    else bad "serve $_n" "no 'nanogen serve: http://HOST:PORT/ (N models)' line: $(head -n 3 "$TMP/$_n.out" "$TMP/$_n.err" | tr '\n' ' ')"; fi
}
# stop_server NAME [sent]: SIGTERM (unless sent already: a second one may mean "now"); exit 0
# within a bounded wait, nothing crashed
stop_server() {
    [ "$2" = sent ] || kill -TERM "$SPID" 2>/dev/null
    _i=0
    while kill -0 "$SPID" 2>/dev/null && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
    if kill -0 "$SPID" 2>/dev/null; then
        bad "serve $1: SIGTERM" "still running a minute later"; kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
    else
        wait "$SPID"; _rc=$?
        cp "$TMP/$1.err" "$ERR"
        if [ "$_rc" -ne 0 ]; then bad "serve $1: SIGTERM" "exit $_rc, expected 0"
        elif crashed 0; then bad "serve $1: SIGTERM" "a sanitizer or libc report on stderr"
        else ok "serve $1: SIGTERM ends it with exit 0"; fi
    fi
    BG=""
}
# client GROUP... [-- FLAGS]: tests/serve_client.py's checks against the running server, counted
client() {
    $CLIENT_TO "$PY" tests/serve_client.py --port "$SPORT" --pid "$SPID" --ng "$NG" --dir "$M/tiny" $NOIMG "$@" \
        > "$TMP/client.out" 2> "$TMP/client.err"
    _rc=$?
    cat "$TMP/client.out"
    _p=$(grep -c '^ok ' "$TMP/client.out"); _f=$(grep -c '^FAIL ' "$TMP/client.out")
    pass=$((pass + _p)); fail=$((fail + _f))
    if [ "$_rc" -ne 0 ] && [ "$_f" -eq 0 ]; then
        : > "$ERR"; bad "serve_client.py $*" "exit $_rc: $(tail -n 3 "$TMP/client.err" | tr '\n' ' ')"
    fi
}

# ------------------------------------------------------------------ the main server
MAXTOK=1000000
LEAK=leak
if [ "${NANOGEN_SANITIZE:-}" = 1 ]; then   # ASan holds freed memory in its quarantine: LeakSanitizer checks at exit instead
    LEAK=""; skip "no RSS bound under SANITIZE=1: ASan keeps freed memory in quarantine (LeakSanitizer checks the exit)" "the RSS check"
fi
SENV=MALLOC_ARENA_MAX=2 start_server main "$M/tiny" $IMAGES --max-tokens $MAXTOK --max-streams 16
if [ -n "$SPORT" ]; then
    check "serve main: the first line names $( [ -n "$IMAGES" ] && echo 3 || echo 1 ) models" \
        grep -q "^nanogen serve: http://127.0.0.1:$SPORT/ ($( [ -n "$IMAGES" ] && echo '3 models' || echo '1 model'))$" "$TMP/main.out"
    client routes errors same independent $LEAK faults nocors shutdown --max-tokens $MAXTOK --max-streams 16
    if grep -q "^[a-zA-Z]* *SIGTERM:" "$TMP/client.out"; then stop_server main sent; else stop_server main; fi
    check "serve main: gone after SIGTERM (connections refused)" sh -c "! '$PY' -c 'import socket; socket.create_connection((\"127.0.0.1\", $SPORT), timeout=5)' 2>/dev/null"
fi

# ------------------------------------------------------------------ a second one: key, CORS, a queue of 1
KEY=test-key-$$
SENV= start_server limited "$M/tiny" --api-key "$KEY" --cors http://example.org --max-streams 1 --queue 1 --max-tokens $MAXTOK
if [ -n "$SPORT" ]; then
    client limited --key "$KEY" --cors http://example.org --max-tokens $MAXTOK --max-streams 1
    stop_server limited
fi

# ------------------------------------------------------------------ a third: --timeout, --name, the key from the environment
SENV=NANOGEN_API_KEY=env-key-$$ start_server timeout "$M/tiny" --name fast --timeout 1 --max-tokens $MAXTOK
if [ -n "$SPORT" ]; then
    client timeout --key "env-key-$$" --max-tokens $MAXTOK
    stop_server timeout
fi
finish
