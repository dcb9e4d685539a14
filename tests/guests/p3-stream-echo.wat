;; A WASI 0.3 HTTP service, written by hand: it exports
;; `wasi:http/handler@0.3.0`, whose `handle` is an async function lifted
;; with a callback (tests/guests/p3-exit.wat explains the async ABI: the
;; callback codes, the packed results of stream and future operations, the
;; events). Whatever the request, it answers 200 at once, with no headers
;; and a body that streams: each chunk of the request's body is copied to
;; the response's body as it arrives. When the request's body ends, the
;; response's body ends too, without trailers.
;;
;; Reading and writing overlap: there are two 16 KiB buffers, so the next
;; chunk of the request is read while the last one is still being written
;; to the client. A client that sends part of its body and waits for the
;; echo before sending the rest gets it, which a handler that read the
;; whole body first could not do.
;;
;; One instance may handle several requests at once (`wasmtime serve`
;; reuses WASI 0.3 instances; wasmpod makes one per request): each
;; request's task keeps its state in a 64 KiB slot of memory of its own,
;; found again through the task's context (`context.set`/`context.get`).
;; Slots are reused after their request ends.
;;
;; A step that cannot fail on a well-behaved host traps if it does. A
;; client that goes away ends the echo: nothing more is read or written.
(component $p3-stream-echo
  ;; --- Imports -----------------------------------------------------------
  ;; wasi:http/types: the request, the response, their bodies. `error-code`
  ;; is spelled out in full (with the records its cases carry) because the
  ;; functions' future types mention it and an imported function's type
  ;; must match the host's exactly. WIT's `headers` and `trailers` are
  ;; aliases of `fields`, so `fields` stands in for them.
  (import "wasi:http/types@0.3.0" (instance $types
    (export "fields" (type $fields (sub resource)))
    (export "request" (type $request (sub resource)))
    (export "response" (type $response (sub resource)))
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
    ;; The request's body: its bytes and a future of its trailers. `res`
    ;; is a future this handler resolves to say how handling the body went.
    (export "[static]request.consume-body" (func
      (param "this" (own $request))
      (param "res" (future (result (error $error-code-e))))
      (result (tuple
        (stream u8)
        (future (result (option (own $fields)) (error $error-code-e)))))))
    ;; A response whose body is `contents` and then `trailers`; the future
    ;; returned says whether it was sent (not read here).
    (export "[static]response.new" (func
      (param "headers" (own $fields))
      (param "contents" (option (stream u8)))
      (param "trailers"
        (future (result (option (own $fields)) (error $error-code-e))))
      (result (tuple (own $response) (future (result (error $error-code-e)))))))))
  (alias export $types "fields" (type $fields))
  (alias export $types "request" (type $request))
  (alias export $types "response" (type $response))
  (alias export $types "error-code" (type $error-code))

  ;; The stream and future types the built-ins below work on.
  (type $bytes (stream u8))
  (type $trailers (future (result (option (own $fields)) (error $error-code))))
  (type $outcome (future (result (error $error-code))))
  (type $handled (result (own $response) (error $error-code)))

  ;; --- Memory ------------------------------------------------------------
  ;; In a module of its own, so that the lowered functions can name it
  ;; before the main module exists. Nothing here returns a list or a
  ;; string, so no `cabi_realloc` is needed.
  (core module $Memory (memory (export "memory") 1))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))

  ;; --- Lowered imports and async built-ins --------------------------------
  (core func $fields-new (canon lower (func $types "[constructor]fields")))
  (core func $consume-body (canon lower
    (func $types "[static]request.consume-body") (memory $mem)))
  (core func $response-new (canon lower
    (func $types "[static]response.new") (memory $mem)))
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
    (import "wasi" "fields-new" (func $fields-new (result i32)))
    ;; (this, res, result ptr); the result is 8 bytes: { body stream;
    ;; trailers future }.
    (import "wasi" "consume-body" (func $consume-body (param i32 i32 i32)))
    ;; (headers, contents: tag and stream, trailers, result ptr); the
    ;; result is 8 bytes: { response; its transmission's future }.
    (import "wasi" "response-new"
      (func $response-new (param i32 i32 i32 i32 i32)))
    ;; Both ends of a new stream or future: writable << 32 | readable.
    (import "wasi" "bytes-new" (func $bytes-new (result i64)))
    ;; (end, bytes ptr, count) -> BLOCKED or count << 4 | code
    (import "wasi" "bytes-read" (func $bytes-read (param i32 i32 i32) (result i32)))
    (import "wasi" "bytes-write"
      (func $bytes-write (param i32 i32 i32) (result i32)))
    (import "wasi" "bytes-drop-readable" (func $bytes-drop-readable (param i32)))
    (import "wasi" "bytes-drop-writable" (func $bytes-drop-writable (param i32)))
    (import "wasi" "trailers-new" (func $trailers-new (result i64)))
    ;; (end, value ptr) -> BLOCKED or code. The value,
    ;; result<option<trailers>, error-code>, is 40 bytes, 8-aligned: { u8
    ;; tag; at 8 the option's u8 tag and handle, or the error-code (a u8
    ;; case, then its payload at 16) }. All zeros is ok(none).
    (import "wasi" "trailers-write"
      (func $trailers-write (param i32 i32) (result i32)))
    (import "wasi" "trailers-drop-readable"
      (func $trailers-drop-readable (param i32)))
    (import "wasi" "trailers-drop-writable"
      (func $trailers-drop-writable (param i32)))
    (import "wasi" "outcome-new" (func $outcome-new (result i64)))
    ;; As trailers-write; result<_, error-code> is 40 bytes too, and all
    ;; zeros is ok.
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
    ;; result<own<response>, error-code>, flattened as in http-hello's
    ;; `response-outparam.set`: (tag, handle | case, i32, i64, i32, i32,
    ;; i32, i32). ok(response) is (0, response, 0, 0, 0, 0, 0, 0).
    (import "wasi" "task.return"
      (func $task-return (param i32 i32 i32 i64 i32 i32 i32 i32)))

    ;; 0..16: results of the lowered calls, read at once (no other task
    ;; runs while this instance's code does).
    ;;
    ;; A request's slot (64 KiB, from memory.grow; $free lists the slots
    ;; of requests that have ended, linked through their first word):
    ;;   +0    the next free slot, while free
    ;;   +4    waitable set
    ;;   +8    request body (stream, readable end)
    ;;   +12   request trailers (future, readable end; never read)
    ;;   +16   res given to consume-body (future, writable end)
    ;;   +20   response body (stream, writable end)
    ;;   +24   response trailers (future, writable end)
    ;;   +28   buffer being read into, or -1
    ;;   +32   buffer being written from, or -1
    ;;   +36   1 while a write is BLOCKED
    ;;   +40   next byte to write
    ;;   +44   bytes left to write
    ;;   +48   full buffer waiting for the write to end, or -1
    ;;   +52   its length
    ;;   +56   1 once the request's body has ended
    ;;   +60   1 once the client no longer reads the response's body
    ;;   +64   -1 while echoing; then the future writes still BLOCKED
    ;;   +128  40 bytes: the trailers' value
    ;;   +192  40 bytes: res's value
    ;;   +4096, +20480: buffers 0 and 1, 16 KiB each
    (global $free (mut i32) (i32.const 0))

    (func $buffer (param $s i32) (param $b i32) (result i32)
      (i32.add (i32.add (local.get $s) (i32.const 4096))
        (i32.mul (local.get $b) (i32.const 16384))))

    (func $wait (param $s i32) (result i32)
      (i32.or (i32.const 2) (i32.shl (i32.load offset=4 (local.get $s))
        (i32.const 4))))

    ;; `wasi:http/handler.handle`: (own<request>) -> callback code.
    (func (export "handle") (param $request i32) (result i32)
      (local $s i32) (local $ends i64) (local $set i32)
      ;; A slot: a freed one, or a new page.
      (if (global.get $free)
        (then
          (local.set $s (global.get $free))
          (global.set $free (i32.load (local.get $s))))
        (else
          (local.set $s (memory.grow (i32.const 1)))
          (if (i32.eq (local.get $s) (i32.const -1)) (then unreachable))
          (local.set $s (i32.shl (local.get $s) (i32.const 16)))))
      (call $context-set (local.get $s))
      (memory.fill (local.get $s) (i32.const 0) (i32.const 256))
      (i32.store offset=28 (local.get $s) (i32.const -1))
      (i32.store offset=32 (local.get $s) (i32.const -1))
      (i32.store offset=48 (local.get $s) (i32.const -1))
      (i32.store offset=64 (local.get $s) (i32.const -1))

      ;; The request's body, with the future that will say it was handled.
      (local.set $ends (call $outcome-new))
      (i32.store offset=16 (local.get $s)
        (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
      (call $consume-body (local.get $request) (i32.wrap_i64 (local.get $ends))
        (i32.const 0))
      (i32.store offset=8 (local.get $s) (i32.load (i32.const 0)))
      (i32.store offset=12 (local.get $s) (i32.load (i32.const 4)))

      ;; The response: no headers, a body stream and a trailers future
      ;; whose writable ends stay here.
      (local.set $ends (call $bytes-new))
      (i32.store offset=20 (local.get $s)
        (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
      (call $response-new (call $fields-new)
        (i32.const 1) (i32.wrap_i64 (local.get $ends))   ;; some(stream)
        (block (result i32)
          (local.set $ends (call $trailers-new))
          (i32.store offset=24 (local.get $s)
            (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
          (i32.wrap_i64 (local.get $ends)))
        (i32.const 0))
      (call $outcome-drop-readable (i32.load (i32.const 4)))
      ;; Answer now: the head goes out while the body is still to come.
      (call $task-return (i32.const 0) (i32.load (i32.const 0))
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0))

      (local.set $set (call $waitable-set-new))
      (i32.store offset=4 (local.get $s) (local.get $set))
      (call $waitable-join (i32.load offset=8 (local.get $s)) (local.get $set))
      (call $waitable-join (i32.load offset=20 (local.get $s)) (local.get $set))
      (call $step (local.get $s)))

    ;; Starts every read and write that can start, as long as some end at
    ;; once; then waits, or finishes once everything is echoed.
    (func $step (param $s i32) (result i32)
      (local $r i32) (local $b i32)
      (loop $again
        ;; Write the buffer due, unless a write is BLOCKED.
        (if (i32.and
              (i32.ne (i32.load offset=32 (local.get $s)) (i32.const -1))
              (i32.eqz (i32.load offset=36 (local.get $s))))
          (then
            (local.set $r (call $bytes-write (i32.load offset=20 (local.get $s))
              (i32.load offset=40 (local.get $s))
              (i32.load offset=44 (local.get $s))))
            (if (i32.eq (local.get $r) (i32.const -1))
              (then (i32.store offset=36 (local.get $s) (i32.const 1)))
              (else
                (call $wrote (local.get $s) (local.get $r))
                (br $again)))))
        ;; Read into a free buffer, unless a read is BLOCKED, the body has
        ;; ended, or the client has gone. Both buffers are busy only when
        ;; one is being written and the other waits for it.
        (if (i32.and
              (i32.and
                (i32.eq (i32.load offset=28 (local.get $s)) (i32.const -1))
                (i32.eq (i32.load offset=48 (local.get $s)) (i32.const -1)))
              (i32.eqz (i32.or (i32.load offset=56 (local.get $s))
                               (i32.load offset=60 (local.get $s)))))
          (then
            (local.set $b (i32.eqz (i32.load offset=32 (local.get $s))))
            (i32.store offset=28 (local.get $s) (local.get $b))
            (local.set $r (call $bytes-read (i32.load offset=8 (local.get $s))
              (call $buffer (local.get $s) (local.get $b)) (i32.const 16384)))
            (if (i32.ne (local.get $r) (i32.const -1))
              (then
                (call $read (local.get $s) (local.get $r))
                (br $again))))))
      ;; Done when nothing is pending, nothing waits to be written, and
      ;; the body has ended (or the client has gone).
      (if (i32.and
            (i32.and
              (i32.eq (i32.load offset=28 (local.get $s)) (i32.const -1))
              (i32.eq (i32.load offset=32 (local.get $s)) (i32.const -1)))
            (i32.or (i32.load offset=56 (local.get $s))
                    (i32.load offset=60 (local.get $s))))
        (then (return (call $finish (local.get $s)))))
      (call $wait (local.get $s)))

    ;; A read ended with `r`: its bytes are written next, or after the
    ;; write in progress.
    (func $read (param $s i32) (param $r i32)
      (local $b i32) (local $n i32)
      (local.set $b (i32.load offset=28 (local.get $s)))
      (i32.store offset=28 (local.get $s) (i32.const -1))
      (local.set $n (i32.shr_u (local.get $r) (i32.const 4)))
      (if (local.get $n)
        (then
          (if (i32.eq (i32.load offset=32 (local.get $s)) (i32.const -1))
            (then
              (i32.store offset=32 (local.get $s) (local.get $b))
              (i32.store offset=40 (local.get $s)
                (call $buffer (local.get $s) (local.get $b)))
              (i32.store offset=44 (local.get $s) (local.get $n)))
            (else
              (i32.store offset=48 (local.get $s) (local.get $b))
              (i32.store offset=52 (local.get $s) (local.get $n))))))
      ;; DROPPED: the body has ended.
      (if (i32.and (local.get $r) (i32.const 0xf))
        (then (i32.store offset=56 (local.get $s) (i32.const 1)))))

    ;; A write ended with `r`: the rest of its buffer is due, or the
    ;; waiting buffer, or nothing.
    (func $wrote (param $s i32) (param $r i32)
      (local $n i32) (local $q i32)
      (local.set $n (i32.shr_u (local.get $r) (i32.const 4)))
      (i32.store offset=40 (local.get $s)
        (i32.add (i32.load offset=40 (local.get $s)) (local.get $n)))
      (i32.store offset=44 (local.get $s)
        (i32.sub (i32.load offset=44 (local.get $s)) (local.get $n)))
      ;; DROPPED: the client has gone; nothing more is written.
      (if (i32.and (local.get $r) (i32.const 0xf))
        (then
          (i32.store offset=60 (local.get $s) (i32.const 1))
          (i32.store offset=32 (local.get $s) (i32.const -1))
          (i32.store offset=48 (local.get $s) (i32.const -1))
          (return)))
      (if (i32.load offset=44 (local.get $s)) (then (return)))
      (local.set $q (i32.load offset=48 (local.get $s)))
      (i32.store offset=32 (local.get $s) (local.get $q))
      (if (i32.ne (local.get $q) (i32.const -1))
        (then
          (i32.store offset=40 (local.get $s)
            (call $buffer (local.get $s) (local.get $q)))
          (i32.store offset=44 (local.get $s)
            (i32.load offset=52 (local.get $s)))
          (i32.store offset=48 (local.get $s) (i32.const -1)))))

    ;; Ends the response's body, then resolves the trailers (none) and
    ;; res (ok), waiting if the host is not ready for them.
    (func $finish (param $s i32) (result i32)
      (local $r i32) (local $pending i32) (local $end i32)
      (local.set $end (i32.load offset=20 (local.get $s)))
      (call $waitable-join (local.get $end) (i32.const 0))
      (call $bytes-drop-writable (local.get $end))
      (local.set $end (i32.load offset=8 (local.get $s)))
      (call $waitable-join (local.get $end) (i32.const 0))
      (call $bytes-drop-readable (local.get $end))
      (call $trailers-drop-readable (i32.load offset=12 (local.get $s)))

      (memory.fill (i32.add (local.get $s) (i32.const 128)) (i32.const 0)
        (i32.const 128))
      (local.set $end (i32.load offset=24 (local.get $s)))
      (local.set $r (call $trailers-write (local.get $end)
        (i32.add (local.get $s) (i32.const 128))))
      (if (i32.eq (local.get $r) (i32.const -1))
        (then
          (call $waitable-join (local.get $end) (i32.load offset=4 (local.get $s)))
          (local.set $pending (i32.add (local.get $pending) (i32.const 1))))
        (else (call $trailers-drop-writable (local.get $end))))
      (local.set $end (i32.load offset=16 (local.get $s)))
      (local.set $r (call $outcome-write (local.get $end)
        (i32.add (local.get $s) (i32.const 192))))
      (if (i32.eq (local.get $r) (i32.const -1))
        (then
          (call $waitable-join (local.get $end) (i32.load offset=4 (local.get $s)))
          (local.set $pending (i32.add (local.get $pending) (i32.const 1))))
        (else (call $outcome-drop-writable (local.get $end))))
      (i32.store offset=64 (local.get $s) (local.get $pending))
      (if (local.get $pending) (then (return (call $wait (local.get $s)))))
      (call $done (local.get $s)))

    ;; Everything is dropped but the set: drop it and free the slot.
    (func $done (param $s i32) (result i32)
      (call $waitable-set-drop (i32.load offset=4 (local.get $s)))
      (i32.store (local.get $s) (global.get $free))
      (global.set $free (local.get $s))
      (i32.const 0))                          ;; EXIT

    ;; The callback: (event code, waitable, payload) -> callback code.
    (func (export "handle-callback")
      (param $event i32) (param $waitable i32) (param $payload i32)
      (result i32)
      (local $s i32) (local $pending i32)
      (local.set $s (call $context-get))
      (local.set $pending (i32.load offset=64 (local.get $s)))
      ;; Finishing: 5 FUTURE_WRITE, the trailers or res was taken.
      (if (i32.ge_s (local.get $pending) (i32.const 0))
        (then
          (if (i32.ne (local.get $event) (i32.const 5))
            (then (return (call $wait (local.get $s)))))
          (call $waitable-join (local.get $waitable) (i32.const 0))
          (if (i32.eq (local.get $waitable) (i32.load offset=24 (local.get $s)))
            (then (call $trailers-drop-writable (local.get $waitable)))
            (else (call $outcome-drop-writable (local.get $waitable))))
          (local.set $pending (i32.sub (local.get $pending) (i32.const 1)))
          (i32.store offset=64 (local.get $s) (local.get $pending))
          (if (local.get $pending) (then (return (call $wait (local.get $s)))))
          (return (call $done (local.get $s)))))
      ;; Echoing: 2 STREAM_READ, 3 STREAM_WRITE.
      (if (i32.eq (local.get $event) (i32.const 2))
        (then (call $read (local.get $s) (local.get $payload))))
      (if (i32.eq (local.get $event) (i32.const 3))
        (then
          (i32.store offset=36 (local.get $s) (i32.const 0))
          (call $wrote (local.get $s) (local.get $payload))))
      (call $step (local.get $s))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "fields-new" (func $fields-new))
      (export "consume-body" (func $consume-body))
      (export "response-new" (func $response-new))
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
