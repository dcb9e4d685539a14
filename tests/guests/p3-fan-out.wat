;; A WASI 0.3 HTTP service, written by hand, that makes two outgoing
;; requests at once (`wasi:http/client@0.3.0`) and answers with both
;; bodies. For every request, whatever its path, it sends `GET /a` and
;; `GET /b` over plain HTTP to the authority (HOST:PORT) in its environment
;; variable BACKEND, both before waiting for either, reads both responses'
;; bodies as they come, and answers
;;
;;   200  /a's body, then /b's body       both came back (any status)
;;   502  "backend failed\n"              a send failed (no network
;;                                        granted, nothing listening, ...)
;;   500  "BACKEND is not set\n"
;;
;; A body over 16 KiB is cut there. A backend that answers neither request
;; until it has both gets its answers only from a guest that sends them at
;; once; one that sent them one after the other would wait for ever.
;;
;; tests/guests/p3-exit.wat explains the async ABI (callback codes, packed
;; stream and future results, events) and p3-stream-echo.wat the per-task
;; slots; what is new here is an async *import*: `client.send` is lowered
;; `async`, so calling it returns at once with `state | subtask << 4`:
;; state 2 RETURNED (the result is already in memory; no subtask), or 0
;; STARTING / 1 STARTED, and later a SUBTASK event (1) on the subtask, with
;; the new state as payload, says when it has RETURNED; the subtask is then
;; dropped.
;;
;; A step that cannot fail on a well-behaved host traps if it does.
(component $p3-fan-out
  ;; --- Imports -----------------------------------------------------------
  ;; wasi:cli/environment: the environment, for BACKEND.
  (import "wasi:cli/environment@0.3.0" (instance $environment
    (export "get-environment" (func (result (list (tuple string string)))))))

  ;; wasi:http/types, as in p3-stream-echo, with outgoing requests too.
  (import "wasi:http/types@0.3.0" (instance $types
    (export "fields" (type $fields (sub resource)))
    (export "request" (type $request (sub resource)))
    (export "request-options" (type $request-options (sub resource)))
    (export "response" (type $response (sub resource)))
    (type $scheme (variant (case "HTTP") (case "HTTPS") (case "other" string)))
    (export "scheme" (type $scheme-e (eq $scheme)))
    (type $DNS-error-payload (record
      (field "rcode" (option string))
      (field "info-code" (option u16))))
    (export "DNS-error-payload" (type $DNS-error-payload-e
      (eq $DNS-error-payload)))
    (type $TLS-alert-received-payload (record
      (field "alert-id" (option u8))
      (field "alert-message" (option string))))
    (export "TLS-alert-received-payload" (type $TLS-alert-received-payload-e
      (eq $TLS-alert-received-payload)))
    (type $field-size-payload (record
      (field "field-name" (option string))
      (field "field-size" (option u32))))
    (export "field-size-payload" (type $field-size-payload-e
      (eq $field-size-payload)))
    (type $error-code (variant
      (case "DNS-timeout")
      (case "DNS-error" $DNS-error-payload-e)
      (case "destination-not-found")
      (case "destination-unavailable")
      (case "destination-IP-prohibited")
      (case "destination-IP-unroutable")
      (case "connection-refused")
      (case "connection-terminated")
      (case "connection-timeout")
      (case "connection-read-timeout")
      (case "connection-write-timeout")
      (case "connection-limit-reached")
      (case "TLS-protocol-error")
      (case "TLS-certificate-error")
      (case "TLS-alert-received" $TLS-alert-received-payload-e)
      (case "HTTP-request-denied")
      (case "HTTP-request-length-required")
      (case "HTTP-request-body-size" (option u64))
      (case "HTTP-request-method-invalid")
      (case "HTTP-request-URI-invalid")
      (case "HTTP-request-URI-too-long")
      (case "HTTP-request-header-section-size" (option u32))
      (case "HTTP-request-header-size" (option $field-size-payload-e))
      (case "HTTP-request-trailer-section-size" (option u32))
      (case "HTTP-request-trailer-size" $field-size-payload-e)
      (case "HTTP-response-incomplete")
      (case "HTTP-response-header-section-size" (option u32))
      (case "HTTP-response-header-size" $field-size-payload-e)
      (case "HTTP-response-body-size" (option u64))
      (case "HTTP-response-trailer-section-size" (option u32))
      (case "HTTP-response-trailer-size" $field-size-payload-e)
      (case "HTTP-response-transfer-coding" (option string))
      (case "HTTP-response-content-coding" (option string))
      (case "HTTP-response-timeout")
      (case "HTTP-upgrade-failed")
      (case "HTTP-protocol-error")
      (case "loop-detected")
      (case "configuration-error")
      (case "internal-error" (option string))))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (export "[constructor]fields" (func (result (own $fields))))
    (export "[static]request.new" (func
      (param "headers" (own $fields))
      (param "contents" (option (stream u8)))
      (param "trailers"
        (future (result (option (own $fields)) (error $error-code-e))))
      (param "options" (option (own $request-options)))
      (result (tuple (own $request) (future (result (error $error-code-e)))))))
    (export "[method]request.set-scheme" (func
      (param "self" (borrow $request))
      (param "scheme" (option $scheme-e))
      (result (result))))
    (export "[method]request.set-authority" (func
      (param "self" (borrow $request))
      (param "authority" (option string))
      (result (result))))
    (export "[method]request.set-path-with-query" (func
      (param "self" (borrow $request))
      (param "path-with-query" (option string))
      (result (result))))
    (export "[static]response.new" (func
      (param "headers" (own $fields))
      (param "contents" (option (stream u8)))
      (param "trailers"
        (future (result (option (own $fields)) (error $error-code-e))))
      (result (tuple (own $response) (future (result (error $error-code-e)))))))
    (export "[method]response.set-status-code" (func
      (param "self" (borrow $response))
      (param "status-code" u16)
      (result (result))))
    (export "[static]response.consume-body" (func
      (param "this" (own $response))
      (param "res" (future (result (error $error-code-e))))
      (result (tuple
        (stream u8)
        (future (result (option (own $fields)) (error $error-code-e)))))))))
  (alias export $types "fields" (type $fields))
  (alias export $types "request" (type $request))
  (alias export $types "response" (type $response))
  (alias export $types "error-code" (type $error-code))

  ;; wasi:http/client: sending a request, an async function.
  (import "wasi:http/client@0.3.0" (instance $client
    (alias outer $p3-fan-out $request (type $request))
    (alias outer $p3-fan-out $response (type $response))
    (alias outer $p3-fan-out $error-code (type $error-code))
    (export "request" (type $request-e (eq $request)))
    (export "response" (type $response-e (eq $response)))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (export "send" (func async
      (param "request" (own $request-e))
      (result (result (own $response-e) (error $error-code-e)))))))

  (type $bytes (stream u8))
  (type $trailers (future (result (option (own $fields)) (error $error-code))))
  (type $outcome (future (result (error $error-code))))
  (type $handled (result (own $response) (error $error-code)))

  ;; --- Memory and allocator ----------------------------------------------
  ;; The host copies the environment, and the strings of an error-code
  ;; that `send` returns, into this memory through `cabi_realloc`. It
  ;; hands out the rest of the first page above 4 KiB, then fresh pages
  ;; from memory.grow (never pages below the memory's end, which the main
  ;; module may have taken for requests' slots). Nothing is freed: the
  ;; environment is read once per instance, and error strings are rare.
  (core module $Memory
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (global $limit (mut i32) (i32.const 65536))
    ;; The canonical ABI's `(old-ptr, old-size, align, new-size) -> ptr`.
    ;; Out of memory traps: the ABI gives realloc no way to fail.
    (func (export "cabi_realloc")
      (param $old i32) (param $old-size i32) (param $align i32)
      (param $new-size i32) (result i32)
      (local $ptr i32) (local $pages i32) (local $page i32)
      (if (i32.gt_u (local.get $new-size) (i32.const 0x7fff0000))
        (then unreachable))
      ;; Round the next free byte up to `align` (a power of two).
      (local.set $ptr (i32.and
        (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
      (if (i64.gt_u (i64.add (i64.extend_i32_u (local.get $ptr))
                             (i64.extend_i32_u (local.get $new-size)))
                    (i64.extend_i32_u (global.get $limit)))
        (then
          ;; Fresh pages at the memory's end for this allocation and what
          ;; follows it.
          (local.set $pages (i32.add (i32.shr_u (local.get $new-size)
            (i32.const 16)) (i32.const 1)))
          (local.set $page (memory.grow (local.get $pages)))
          (if (i32.eq (local.get $page) (i32.const -1)) (then unreachable))
          (local.set $ptr (i32.shl (local.get $page) (i32.const 16)))
          (global.set $limit (i32.add (local.get $ptr)
            (i32.shl (local.get $pages) (i32.const 16))))))
      (global.set $next (i32.add (local.get $ptr) (local.get $new-size)))
      (if (local.get $old)
        (then (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old-size) (local.get $new-size)
            (i32.lt_u (local.get $old-size) (local.get $new-size))))))
      (local.get $ptr)))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "cabi_realloc" (core func $realloc))

  ;; --- Lowered imports and async built-ins --------------------------------
  (core func $get-environment (canon lower
    (func $environment "get-environment")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $fields-new (canon lower (func $types "[constructor]fields")))
  (core func $request-new (canon lower (func $types "[static]request.new")
    (memory $mem)))
  (core func $set-scheme (canon lower
    (func $types "[method]request.set-scheme")
    (memory $mem) string-encoding=utf8))
  (core func $set-authority (canon lower
    (func $types "[method]request.set-authority")
    (memory $mem) string-encoding=utf8))
  (core func $set-path-with-query (canon lower
    (func $types "[method]request.set-path-with-query")
    (memory $mem) string-encoding=utf8))
  (core func $response-new (canon lower (func $types "[static]response.new")
    (memory $mem)))
  (core func $set-status-code (canon lower
    (func $types "[method]response.set-status-code")))
  (core func $consume-body (canon lower
    (func $types "[static]response.consume-body") (memory $mem)))
  (core func $drop-request (canon resource.drop $request))
  (core func $send (canon lower (func $client "send") async
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $subtask-drop (canon subtask.drop))
  (core func $bytes-new (canon stream.new $bytes))
  (core func $bytes-read (canon stream.read $bytes async (memory $mem)))
  (core func $bytes-write (canon stream.write $bytes async (memory $mem)))
  (core func $bytes-drop-readable (canon stream.drop-readable $bytes))
  (core func $bytes-drop-writable (canon stream.drop-writable $bytes))
  (core func $trailers-new (canon future.new $trailers))
  (core func $trailers-write (canon future.write $trailers async
    (memory $mem) string-encoding=utf8))
  (core func $trailers-drop-readable (canon future.drop-readable $trailers))
  (core func $trailers-drop-writable (canon future.drop-writable $trailers))
  (core func $outcome-new (canon future.new $outcome))
  (core func $outcome-write (canon future.write $outcome async
    (memory $mem) string-encoding=utf8))
  (core func $outcome-drop-readable (canon future.drop-readable $outcome))
  (core func $outcome-drop-writable (canon future.drop-writable $outcome))
  (core func $waitable-set-new (canon waitable-set.new))
  (core func $waitable-set-drop (canon waitable-set.drop))
  (core func $waitable-join (canon waitable.join))
  (core func $context-get (canon context.get i32 0))
  (core func $context-set (canon context.set i32 0))
  (core func $task-return (canon task.return (result $handled)
    (memory $mem) string-encoding=utf8))

  ;; --- The handler itself --------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; (result ptr); list<tuple<string, string>>, 8 bytes: { ptr; len },
    ;; each element 16 bytes: { name ptr; name len; value ptr; value len }.
    (import "wasi" "get-environment" (func $get-environment (param i32)))
    (import "wasi" "fields-new" (func $fields-new (result i32)))
    ;; (headers, contents: tag and stream, trailers, options: tag and
    ;; handle, result ptr); the result is 8 bytes: { request; its
    ;; transmission's future }.
    (import "wasi" "request-new"
      (func $request-new (param i32 i32 i32 i32 i32 i32 i32)))
    ;; (self, option tag, scheme case, other's ptr and len) -> 0 ok, 1 err
    (import "wasi" "set-scheme"
      (func $set-scheme (param i32 i32 i32 i32 i32) (result i32)))
    ;; (self, option tag, ptr, len) -> 0 ok, 1 err
    (import "wasi" "set-authority"
      (func $set-authority (param i32 i32 i32 i32) (result i32)))
    (import "wasi" "set-path-with-query"
      (func $set-path-with-query (param i32 i32 i32 i32) (result i32)))
    ;; As in p3-stream-echo.
    (import "wasi" "response-new"
      (func $response-new (param i32 i32 i32 i32 i32)))
    (import "wasi" "set-status-code"
      (func $set-status-code (param i32 i32) (result i32)))
    (import "wasi" "consume-body" (func $consume-body (param i32 i32 i32)))
    (import "wasi" "drop-request" (func $drop-request (param i32)))
    ;; (request, result ptr) -> state | subtask << 4. The result,
    ;; result<own<response>, error-code>, is 40 bytes, 8-aligned: { u8
    ;; tag; at 8 the response, or the error-code }.
    (import "wasi" "send" (func $send (param i32 i32) (result i32)))
    (import "wasi" "subtask.drop" (func $subtask-drop (param i32)))
    (import "wasi" "bytes-new" (func $bytes-new (result i64)))
    (import "wasi" "bytes-read" (func $bytes-read (param i32 i32 i32) (result i32)))
    (import "wasi" "bytes-write"
      (func $bytes-write (param i32 i32 i32) (result i32)))
    (import "wasi" "bytes-drop-readable" (func $bytes-drop-readable (param i32)))
    (import "wasi" "bytes-drop-writable" (func $bytes-drop-writable (param i32)))
    (import "wasi" "trailers-new" (func $trailers-new (result i64)))
    (import "wasi" "trailers-write"
      (func $trailers-write (param i32 i32) (result i32)))
    (import "wasi" "trailers-drop-readable"
      (func $trailers-drop-readable (param i32)))
    (import "wasi" "trailers-drop-writable"
      (func $trailers-drop-writable (param i32)))
    (import "wasi" "outcome-new" (func $outcome-new (result i64)))
    (import "wasi" "outcome-write"
      (func $outcome-write (param i32 i32) (result i32)))
    (import "wasi" "outcome-drop-readable"
      (func $outcome-drop-readable (param i32)))
    (import "wasi" "outcome-drop-writable"
      (func $outcome-drop-writable (param i32)))
    (import "wasi" "waitable-set.new" (func $waitable-set-new (result i32)))
    (import "wasi" "waitable-set.drop" (func $waitable-set-drop (param i32)))
    (import "wasi" "waitable.join" (func $waitable-join (param i32 i32)))
    (import "wasi" "context.get" (func $context-get (result i32)))
    (import "wasi" "context.set" (func $context-set (param i32)))
    (import "wasi" "task.return"
      (func $task-return (param i32 i32 i32 i64 i32 i32 i32 i32)))

    ;; 0..16: results of the synchronous calls, read at once.
    (data (i32.const 64) "BACKEND")                 ;; 7 bytes
    (data (i32.const 80) "/a")                      ;; 2
    (data (i32.const 88) "/b")                      ;; 2
    (data (i32.const 96) "backend failed\n")        ;; 15
    (data (i32.const 128) "BACKEND is not set\n")   ;; 19
    ;; 256..296: 40 zero bytes, never written: ok(none) as trailers and ok
    ;; as an outcome, the value of every future this guest writes.
    ;; cabi_realloc hands out memory from 4096 on.

    ;; A request's slot (64 KiB from memory.grow, reused once free):
    ;;   +0    the next free slot, while free
    ;;   +4    waitable set
    ;;   +8    future writes still BLOCKED
    ;;   +12   0 while fetching, 1 once answering
    ;;   +16   answer: body (stream, writable end; 0 once dropped)
    ;;   +20   answer: trailers (future, writable end; 0 once written)
    ;;   +24   answer: next byte to write
    ;;   +28   answer: bytes left
    ;;   +256, +384: the two outgoing requests ("legs"), 128 bytes each:
    ;;     +0   subtask of `send`, while it runs
    ;;     +4   0 sending, 1 reading the body, 2 done
    ;;     +8   1 if `send` failed
    ;;     +12  request trailers (future, writable end; 0 once written)
    ;;     +16  response body (stream, readable end; 0 once dropped)
    ;;     +20  res given to consume-body (future, writable; 0 once written)
    ;;     +24  1 while a read is BLOCKED
    ;;     +28  bytes read
    ;;     +64  40 bytes: send's result
    ;;   +4096, +20480: the legs' bodies, 16 KiB each; the answer's body is
    ;;   the first followed by the second.
    (global $free (mut i32) (i32.const 0))
    ;; BACKEND's value, once looked up (-1 before; 0 length if unset).
    (global $backend (mut i32) (i32.const -1))
    (global $backend-len (mut i32) (i32.const 0))

    (func $leg (param $s i32) (param $i i32) (result i32)
      (i32.add (i32.add (local.get $s) (i32.const 256))
        (i32.shl (local.get $i) (i32.const 7))))
    (func $buffer (param $s i32) (param $i i32) (result i32)
      (i32.add (i32.add (local.get $s) (i32.const 4096))
        (i32.shl (local.get $i) (i32.const 14))))
    (func $wait (param $s i32) (result i32)
      (i32.or (i32.const 2) (i32.shl (i32.load offset=4 (local.get $s))
        (i32.const 4))))

    ;; Both ends of a new stream or future: the writable end is stored at
    ;; `at`, the readable end returned.
    (func $split (param $ends i64) (param $at i32) (result i32)
      (i32.store (local.get $at)
        (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
      (i32.wrap_i64 (local.get $ends)))

    ;; Looks BACKEND up in the environment, once per instance.
    (func $find-backend
      (local $list i32) (local $count i32) (local $entry i32) (local $i i32)
      (if (i32.ne (global.get $backend) (i32.const -1)) (then (return)))
      (global.set $backend (i32.const 0))
      (call $get-environment (i32.const 0))
      (local.set $list (i32.load (i32.const 0)))
      (local.set $count (i32.load (i32.const 4)))
      (block $found
        (loop $next
          (br_if $found (i32.ge_u (local.get $i) (local.get $count)))
          (local.set $entry (i32.add (local.get $list)
            (i32.shl (local.get $i) (i32.const 4))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.ne (i32.load offset=4 (local.get $entry)) (i32.const 7)))
          ;; "BACKEND": bytes 0 to 3, then 3 to 6.
          (br_if $next (i32.ne (i32.load (i32.load (local.get $entry)))
                               (i32.load (i32.const 64))))
          (br_if $next (i32.ne (i32.load offset=3 (i32.load (local.get $entry)))
                               (i32.load (i32.const 67))))
          (global.set $backend (i32.load offset=8 (local.get $entry)))
          (global.set $backend-len (i32.load offset=12 (local.get $entry))))))

    ;; `wasi:http/handler.handle`: (own<request>) -> callback code.
    (func (export "handle") (param $request i32) (result i32)
      (local $s i32)
      (if (global.get $free)
        (then
          (local.set $s (global.get $free))
          (global.set $free (i32.load (local.get $s))))
        (else
          (local.set $s (memory.grow (i32.const 1)))
          (if (i32.eq (local.get $s) (i32.const -1)) (then unreachable))
          (local.set $s (i32.shl (local.get $s) (i32.const 16)))))
      (call $context-set (local.get $s))
      (memory.fill (local.get $s) (i32.const 0) (i32.const 512))
      (i32.store offset=4 (local.get $s) (call $waitable-set-new))
      ;; Nothing of the request is used.
      (call $drop-request (local.get $request))

      (call $find-backend)
      (if (i32.eqz (global.get $backend-len))
        (then
          (return (call $answer (local.get $s) (i32.const 500)
            (i32.const 128) (i32.const 19)))))
      (call $start (local.get $s) (i32.const 0) (i32.const 80))
      (call $start (local.get $s) (i32.const 1) (i32.const 88))
      (call $step (local.get $s)))

    ;; Sends `GET path` (2 bytes) to BACKEND as leg `i`, without waiting.
    (func $start (param $s i32) (param $i i32) (param $path i32)
      (local $leg i32) (local $request i32) (local $r i32)
      (local.set $leg (call $leg (local.get $s) (local.get $i)))
      (call $request-new (call $fields-new)
        (i32.const 0) (i32.const 0)                  ;; contents: none
        (call $split (call $trailers-new) (i32.add (local.get $leg) (i32.const 12)))
        (i32.const 0) (i32.const 0)                  ;; options: none
        (i32.const 0))
      (local.set $request (i32.load (i32.const 0)))
      (call $outcome-drop-readable (i32.load (i32.const 4)))
      (if (call $set-scheme (local.get $request)
            (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))  ;; some(HTTP)
        (then unreachable))
      (if (call $set-authority (local.get $request)
            (i32.const 1) (global.get $backend) (global.get $backend-len))
        (then unreachable))
      (if (call $set-path-with-query (local.get $request)
            (i32.const 1) (local.get $path) (i32.const 2))
        (then unreachable))
      ;; The request has no body; its trailers are none.
      (call $resolve (local.get $s) (i32.add (local.get $leg) (i32.const 12))
        (i32.const 1))
      (local.set $r (call $send (local.get $request)
        (i32.add (local.get $leg) (i32.const 64))))
      (if (i32.eq (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2))
        (then (call $sent (local.get $s) (local.get $i)))
        (else
          (i32.store (local.get $leg) (i32.shr_u (local.get $r) (i32.const 4)))
          (call $waitable-join (i32.shr_u (local.get $r) (i32.const 4))
            (i32.load offset=4 (local.get $s))))))

    ;; Leg `i`'s send has returned: read the response's body, or note
    ;; the failure.
    (func $sent (param $s i32) (param $i i32)
      (local $leg i32)
      (local.set $leg (call $leg (local.get $s) (local.get $i)))
      (if (i32.load8_u offset=64 (local.get $leg))
        (then
          (i32.store offset=8 (local.get $leg) (i32.const 1))
          (i32.store offset=4 (local.get $leg) (i32.const 2))
          (return)))
      (call $consume-body (i32.load offset=72 (local.get $leg))
        (call $split (call $outcome-new) (i32.add (local.get $leg) (i32.const 20)))
        (i32.const 0))
      (i32.store offset=16 (local.get $leg) (i32.load (i32.const 0)))
      (call $trailers-drop-readable (i32.load (i32.const 4)))
      (call $waitable-join (i32.load offset=16 (local.get $leg))
        (i32.load offset=4 (local.get $s)))
      (i32.store offset=4 (local.get $leg) (i32.const 1)))

    ;; Writes ok (or ok(none)) to the future whose writable end is stored
    ;; at `at` (`trailers`: 1 for a trailers future, 0 for an outcome),
    ;; and drops it; or, if the host is not ready, waits for it.
    (func $resolve (param $s i32) (param $at i32) (param $trailers i32)
      (local $end i32) (local $r i32)
      (local.set $end (i32.load (local.get $at)))
      (local.set $r (if (result i32) (local.get $trailers)
        (then (call $trailers-write (local.get $end) (i32.const 256)))
        (else (call $outcome-write (local.get $end) (i32.const 256)))))
      (if (i32.eq (local.get $r) (i32.const -1))
        (then
          (call $waitable-join (local.get $end) (i32.load offset=4 (local.get $s)))
          (i32.store offset=8 (local.get $s)
            (i32.add (i32.load offset=8 (local.get $s)) (i32.const 1))))
        (else (call $resolved (local.get $at) (local.get $trailers)))))

    ;; The future at `at` is written: drop it.
    (func $resolved (param $at i32) (param $trailers i32)
      (if (local.get $trailers)
        (then (call $trailers-drop-writable (i32.load (local.get $at))))
        (else (call $outcome-drop-writable (i32.load (local.get $at)))))
      (i32.store (local.get $at) (i32.const 0)))

    ;; A FUTURE_WRITE event on `end`: one of the futures waited for.
    (func $future-written (param $s i32) (param $end i32)
      (local $at i32)
      (call $waitable-join (local.get $end) (i32.const 0))
      (i32.store offset=8 (local.get $s)
        (i32.sub (i32.load offset=8 (local.get $s)) (i32.const 1)))
      (block $outcomes
        (block $trailers
          (local.set $at (i32.add (local.get $s) (i32.const 20)))
          (br_if $trailers (i32.eq (i32.load (local.get $at)) (local.get $end)))
          (local.set $at (i32.add (local.get $s) (i32.const 268)))
          (br_if $trailers (i32.eq (i32.load (local.get $at)) (local.get $end)))
          (local.set $at (i32.add (local.get $s) (i32.const 396)))
          (br_if $trailers (i32.eq (i32.load (local.get $at)) (local.get $end)))
          (local.set $at (i32.add (local.get $s) (i32.const 276)))
          (br_if $outcomes (i32.eq (i32.load (local.get $at)) (local.get $end)))
          (local.set $at (i32.add (local.get $s) (i32.const 404)))
          (br_if $outcomes (i32.eq (i32.load (local.get $at)) (local.get $end)))
          unreachable)
        (call $resolved (local.get $at) (i32.const 1))
        (return))
      (call $resolved (local.get $at) (i32.const 0)))

    ;; Reads leg `i`'s body until a read is BLOCKED or it ends.
    (func $pump (param $s i32) (param $i i32)
      (local $leg i32) (local $room i32) (local $r i32)
      (local.set $leg (call $leg (local.get $s) (local.get $i)))
      (loop $more
        (if (i32.or (i32.ne (i32.load offset=4 (local.get $leg)) (i32.const 1))
                    (i32.load offset=24 (local.get $leg)))
          (then (return)))
        (local.set $room (i32.sub (i32.const 16384)
          (i32.load offset=28 (local.get $leg))))
        ;; Full: the rest is not read.
        (if (i32.eqz (local.get $room))
          (then
            (call $body-ended (local.get $s) (local.get $i))
            (return)))
        (local.set $r (call $bytes-read (i32.load offset=16 (local.get $leg))
          (i32.add (call $buffer (local.get $s) (local.get $i))
            (i32.load offset=28 (local.get $leg)))
          (local.get $room)))
        (if (i32.eq (local.get $r) (i32.const -1))
          (then
            (i32.store offset=24 (local.get $leg) (i32.const 1))
            (return)))
        (call $read (local.get $s) (local.get $i) (local.get $r))
        (br $more)))

    ;; A read of leg `i`'s body ended with `r`.
    (func $read (param $s i32) (param $i i32) (param $r i32)
      (local $leg i32)
      (local.set $leg (call $leg (local.get $s) (local.get $i)))
      (i32.store offset=24 (local.get $leg) (i32.const 0))
      (i32.store offset=28 (local.get $leg)
        (i32.add (i32.load offset=28 (local.get $leg))
          (i32.shr_u (local.get $r) (i32.const 4))))
      ;; DROPPED: the body has ended.
      (if (i32.and (local.get $r) (i32.const 0xf))
        (then (call $body-ended (local.get $s) (local.get $i)))))

    ;; Leg `i` has its body: drop the stream, resolve res, done.
    (func $body-ended (param $s i32) (param $i i32)
      (local $leg i32) (local $body i32)
      (local.set $leg (call $leg (local.get $s) (local.get $i)))
      (local.set $body (i32.load offset=16 (local.get $leg)))
      (call $waitable-join (local.get $body) (i32.const 0))
      (call $bytes-drop-readable (local.get $body))
      (i32.store offset=16 (local.get $leg) (i32.const 0))
      (call $resolve (local.get $s) (i32.add (local.get $leg) (i32.const 20))
        (i32.const 0))
      (i32.store offset=4 (local.get $leg) (i32.const 2)))

    ;; After every event: read what can be read; answer once both legs
    ;; are done; end once the answer is sent and every future written.
    (func $step (param $s i32) (result i32)
      (local $first i32) (local $second i32)
      (if (i32.eqz (i32.load offset=12 (local.get $s)))
        (then
          (call $pump (local.get $s) (i32.const 0))
          (call $pump (local.get $s) (i32.const 1))
          (if (i32.and
                (i32.eq (i32.load offset=260 (local.get $s)) (i32.const 2))
                (i32.eq (i32.load offset=388 (local.get $s)) (i32.const 2)))
            (then
              (if (i32.or (i32.load offset=264 (local.get $s))
                          (i32.load offset=392 (local.get $s)))
                (then (return (call $answer (local.get $s) (i32.const 502)
                  (i32.const 96) (i32.const 15)))))
              ;; The first body, and the second right after it.
              (local.set $first (i32.load offset=284 (local.get $s)))
              (local.set $second (i32.load offset=412 (local.get $s)))
              (memory.copy
                (i32.add (call $buffer (local.get $s) (i32.const 0)) (local.get $first))
                (call $buffer (local.get $s) (i32.const 1))
                (local.get $second))
              (return (call $answer (local.get $s) (i32.const 200)
                (call $buffer (local.get $s) (i32.const 0))
                (i32.add (local.get $first) (local.get $second))))))
          (return (call $wait (local.get $s)))))
      (call $maybe-done (local.get $s)))

    ;; Answers `status` with the `len` bytes at `ptr` as the body.
    (func $answer (param $s i32) (param $status i32) (param $ptr i32)
      (param $len i32) (result i32)
      (local $response i32)
      (i32.store offset=12 (local.get $s) (i32.const 1))
      (call $response-new (call $fields-new)
        (i32.const 1)
        (call $split (call $bytes-new) (i32.add (local.get $s) (i32.const 16)))
        (call $split (call $trailers-new) (i32.add (local.get $s) (i32.const 20)))
        (i32.const 0))
      (local.set $response (i32.load (i32.const 0)))
      (call $outcome-drop-readable (i32.load (i32.const 4)))
      (if (i32.ne (local.get $status) (i32.const 200))
        (then
          (if (call $set-status-code (local.get $response) (local.get $status))
            (then unreachable))))
      (call $task-return (i32.const 0) (local.get $response)
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0))
      (i32.store offset=24 (local.get $s) (local.get $ptr))
      (i32.store offset=28 (local.get $s) (local.get $len))
      (call $waitable-join (i32.load offset=16 (local.get $s))
        (i32.load offset=4 (local.get $s)))
      (call $write-body (local.get $s)))

    ;; Writes what is left of the answer's body; once it is all written
    ;; (or the client has gone), ends it and resolves its trailers.
    (func $write-body (param $s i32) (result i32)
      (local $r i32) (local $body i32)
      (local.set $body (i32.load offset=16 (local.get $s)))
      (block $ended
        (loop $more
          (br_if $ended (i32.eqz (i32.load offset=28 (local.get $s))))
          (local.set $r (call $bytes-write (local.get $body)
            (i32.load offset=24 (local.get $s))
            (i32.load offset=28 (local.get $s))))
          (if (i32.eq (local.get $r) (i32.const -1))
            (then (return (call $wait (local.get $s)))))
          (br_if $ended (call $wrote (local.get $s) (local.get $r)))
          (br $more)))
      (call $waitable-join (local.get $body) (i32.const 0))
      (call $bytes-drop-writable (local.get $body))
      (i32.store offset=16 (local.get $s) (i32.const 0))
      (call $resolve (local.get $s) (i32.add (local.get $s) (i32.const 20))
        (i32.const 1))
      (call $maybe-done (local.get $s)))

    ;; Counts what a write of the answer took; true if the client has
    ;; gone.
    (func $wrote (param $s i32) (param $r i32) (result i32)
      (local $n i32)
      (local.set $n (i32.shr_u (local.get $r) (i32.const 4)))
      (i32.store offset=24 (local.get $s)
        (i32.add (i32.load offset=24 (local.get $s)) (local.get $n)))
      (i32.store offset=28 (local.get $s)
        (i32.sub (i32.load offset=28 (local.get $s)) (local.get $n)))
      (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 0)))

    ;; Ends the task once the answer's body is dropped and no future
    ;; write is BLOCKED: drops the set and frees the slot.
    (func $maybe-done (param $s i32) (result i32)
      (if (i32.or (i32.load offset=16 (local.get $s))
                  (i32.load offset=8 (local.get $s)))
        (then (return (call $wait (local.get $s)))))
      (call $waitable-set-drop (i32.load offset=4 (local.get $s)))
      (i32.store (local.get $s) (global.get $free))
      (global.set $free (local.get $s))
      (i32.const 0))                          ;; EXIT

    ;; The callback: (event code, waitable, payload) -> callback code.
    (func (export "handle-callback")
      (param $event i32) (param $waitable i32) (param $payload i32)
      (result i32)
      (local $s i32)
      (local.set $s (call $context-get))
      ;; 1 SUBTASK: a send has RETURNED (2), or only started.
      (if (i32.and (i32.eq (local.get $event) (i32.const 1))
                   (i32.eq (local.get $payload) (i32.const 2)))
        (then
          (call $waitable-join (local.get $waitable) (i32.const 0))
          (call $subtask-drop (local.get $waitable))
          (if (i32.eq (local.get $waitable) (i32.load offset=256 (local.get $s)))
            (then
              (i32.store offset=256 (local.get $s) (i32.const 0))
              (call $sent (local.get $s) (i32.const 0)))
            (else
              (i32.store offset=384 (local.get $s) (i32.const 0))
              (call $sent (local.get $s) (i32.const 1))))))
      ;; 2 STREAM_READ: a read of a leg's body has ended.
      (if (i32.eq (local.get $event) (i32.const 2))
        (then
          (call $read (local.get $s)
            (i32.ne (local.get $waitable) (i32.load offset=272 (local.get $s)))
            (local.get $payload))))
      ;; 3 STREAM_WRITE: a write of the answer's body has ended.
      (if (i32.eq (local.get $event) (i32.const 3))
        (then
          (if (call $wrote (local.get $s) (local.get $payload))
            (then (i32.store offset=28 (local.get $s) (i32.const 0))))
          (return (call $write-body (local.get $s)))))
      ;; 5 FUTURE_WRITE: a future waited for is written.
      (if (i32.eq (local.get $event) (i32.const 5))
        (then (call $future-written (local.get $s) (local.get $waitable))))
      (call $step (local.get $s))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "get-environment" (func $get-environment))
      (export "fields-new" (func $fields-new))
      (export "request-new" (func $request-new))
      (export "set-scheme" (func $set-scheme))
      (export "set-authority" (func $set-authority))
      (export "set-path-with-query" (func $set-path-with-query))
      (export "response-new" (func $response-new))
      (export "set-status-code" (func $set-status-code))
      (export "consume-body" (func $consume-body))
      (export "drop-request" (func $drop-request))
      (export "send" (func $send))
      (export "subtask.drop" (func $subtask-drop))
      (export "bytes-new" (func $bytes-new))
      (export "bytes-read" (func $bytes-read))
      (export "bytes-write" (func $bytes-write))
      (export "bytes-drop-readable" (func $bytes-drop-readable))
      (export "bytes-drop-writable" (func $bytes-drop-writable))
      (export "trailers-new" (func $trailers-new))
      (export "trailers-write" (func $trailers-write))
      (export "trailers-drop-readable" (func $trailers-drop-readable))
      (export "trailers-drop-writable" (func $trailers-drop-writable))
      (export "outcome-new" (func $outcome-new))
      (export "outcome-write" (func $outcome-write))
      (export "outcome-drop-readable" (func $outcome-drop-readable))
      (export "outcome-drop-writable" (func $outcome-drop-writable))
      (export "waitable-set.new" (func $waitable-set-new))
      (export "waitable-set.drop" (func $waitable-set-drop))
      (export "waitable.join" (func $waitable-join))
      (export "context.get" (func $context-get))
      (export "context.set" (func $context-set))
      (export "task.return" (func $task-return))))))
  (alias core export $main "handle-callback" (core func $handle-callback))

  ;; --- Export --------------------------------------------------------------
  (type $handle-type (func async
    (param "request" (own $request))
    (result $handled)))
  (func $handle (type $handle-type)
    (canon lift (core func $main "handle") async (memory $mem)
      (callback $handle-callback)))
  (instance $handler
    (export "request" (type $request))
    (export "response" (type $response))
    (export "error-code" (type $error-code))
    (export "handle" (func $handle)))
  (export "wasi:http/handler@0.3.0" (instance $handler)))
