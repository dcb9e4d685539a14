;; A WASI 0.3 HTTP service component, written by hand: it exports
;; `wasi:http/handler@0.3.0`, whose `handle` is an async function lifted
;; with a callback. Whatever the request, it answers
;;
;;   200  "hello from wasm\n"
;;
;; with the header `content-type: text/plain`. This is the same answer
;; http-hello.wat (the WASI 0.2 service beside it) gives for any path other
;; than /fail and /sleep, and the same work to get there: one header list
;; built with `fields.from-list`, 16 bytes of body, no trailers, and the
;; request's body never read. It exists so that WASI 0.3 and WASI 0.2 can
;; be benchmarked with the same program; that is why it has no routes and
;; does nothing it does not need to.
;;
;; tests/guests/p3-exit.wat explains the async ABI (callback codes, the
;; packed results of stream and future operations, events) and
;; tests/guests/p3-stream-echo.wat is a fuller 0.3 service. What `handle`
;; does here, in order:
;;
;;   1. drops the request (its body is never read);
;;   2. builds the headers, a stream for the body and a future for the
;;      trailers, and makes the response out of them;
;;   3. hands the response to the host with `task.return`, so the host can
;;      send the head while the body is still to be written;
;;   4. writes the body into the stream and `ok(none)` (no trailers) into
;;      the future. The host reads neither until `handle` has returned, so
;;      both writes come back BLOCKED; `handle` then returns WAIT and the
;;      callback runs once each write ends: it drops the stream's writable
;;      end when the body is written (that ends the body) and the future's
;;      when the trailers are taken. When both are gone the task is done.
;;
;; One instance may run several requests at once (`wasmtime serve` reuses
;; WASI 0.3 instances; wasmpod makes one per request). Each request is its
;; own task, and its whole state fits in one i32 kept in the task's context
;; (`context.set`/`context.get`), so no memory is handed out per request:
;;
;;   bits 0-4   bytes of the body written so far (0 to 16)
;;   bit  5     a write of the body is BLOCKED
;;   bit  6     the write of the trailers is BLOCKED
;;   bits 8-31  the task's waitable set
;;
;; The callback finds the stream or future an event is about in the event
;; itself, so their handles need not be kept. The bytes the writes take
;; (the body and the trailers' value) are constants in memory that nothing
;; writes to, so tasks can share them even while their writes wait.
;;
;; A step that cannot fail on a well-behaved host (building the headers)
;; traps if it does; the host then answers 500 itself. A client that goes
;; away ends the writes (DROPPED); the ends are dropped all the same.
;; The interface version is the one wasmtime-wasi-http 48 declares
;; (`wasi:http@0.3.0`).
(component $http-hello-p3
  ;; --- Imports -----------------------------------------------------------
  ;; wasi:http/types: only what the handler uses. As in the other guests,
  ;; a named type that a function mentions is exported with `eq`, and
  ;; `error-code` and `header-error` are spelled out in full because an
  ;; imported function's type must match the host's exactly. WIT's
  ;; `field-name`, `field-value` and `headers`/`trailers` are aliases of
  ;; `string`, `list<u8>` and `fields`, so the plain types stand in.
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
    ;; 0.3 adds `size-exceeded` and `other` to 0.2's three cases.
    (type $header-error (variant
      (case "invalid-syntax")
      (case "forbidden")
      (case "immutable")
      (case "size-exceeded")
      (case "other" (option string))))
    (export "header-error" (type $header-error-e (eq $header-error)))
    (export "[static]fields.from-list" (func
      (param "entries" (list (tuple string (list u8))))
      (result (result (own $fields) (error $header-error-e)))))
    ;; A response whose body is `contents` and then `trailers`; the future
    ;; it returns says whether the response was sent (not read here).
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

  ;; The stream and future types the built-ins below work on: the same
  ;; structure as those `response.new` takes and returns.
  (type $bytes (stream u8))
  (type $trailers (future (result (option (own $fields)) (error $error-code))))
  (type $sent (future (result (error $error-code))))
  (type $handled (result (own $response) (error $error-code)))

  ;; --- Memory ------------------------------------------------------------
  ;; In a module of its own, so that the lowered functions can name it
  ;; before the main module exists. `fields.from-list` may return a
  ;; `header-error` holding a string, so its lowering must be given a
  ;; `cabi_realloc`; the host calls it only to hand over that string, and
  ;; an error there is a trap anyway, so this one traps at once instead of
  ;; allocating.
  (core module $Memory
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      unreachable))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "cabi_realloc" (core func $realloc))

  ;; --- Lowered imports and async built-ins --------------------------------
  (core func $fields-from-list (canon lower
    (func $types "[static]fields.from-list")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $response-new (canon lower
    (func $types "[static]response.new") (memory $mem)))
  (core func $drop-request (canon resource.drop $request))
  (core func $bytes-new (canon stream.new $bytes))
  (core func $bytes-write (canon stream.write $bytes async (memory $mem)))
  (core func $bytes-drop-writable (canon stream.drop-writable $bytes))
  (core func $trailers-new (canon future.new $trailers))
  (core func $trailers-write (canon future.write $trailers async
    (memory $mem) string-encoding=utf8))
  (core func $trailers-drop-writable (canon future.drop-writable $trailers))
  (core func $sent-drop-readable (canon future.drop-readable $sent))
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
    ;; (entries.ptr, entries.len, result ptr); each entry is 16 bytes:
    ;; { name ptr; name len; value ptr; value len }. The result is
    ;; result<own<fields>, header-error>, 20 bytes: { u8 tag; at 4 the
    ;; fields handle, or the header-error }.
    (import "wasi" "fields-from-list"
      (func $fields-from-list (param i32 i32 i32)))
    ;; (headers, contents: tag and stream, trailers, result ptr); the
    ;; result is 8 bytes: { response; the future saying it was sent }.
    (import "wasi" "response-new"
      (func $response-new (param i32 i32 i32 i32 i32)))
    (import "wasi" "drop-request" (func $drop-request (param i32)))
    ;; Both ends of a new stream or future: writable << 32 | readable.
    (import "wasi" "bytes-new" (func $bytes-new (result i64)))
    ;; (writable end, bytes ptr, count) -> BLOCKED (-1) or count << 4 | code
    (import "wasi" "bytes-write"
      (func $bytes-write (param i32 i32 i32) (result i32)))
    (import "wasi" "bytes-drop-writable"
      (func $bytes-drop-writable (param i32)))
    (import "wasi" "trailers-new" (func $trailers-new (result i64)))
    ;; (writable end, value ptr) -> BLOCKED (-1) or code. The value,
    ;; result<option<trailers>, error-code>, is 40 bytes, 8-aligned; all
    ;; zeros is ok(none).
    (import "wasi" "trailers-write"
      (func $trailers-write (param i32 i32) (result i32)))
    (import "wasi" "trailers-drop-writable"
      (func $trailers-drop-writable (param i32)))
    (import "wasi" "sent-drop-readable"
      (func $sent-drop-readable (param i32)))
    (import "wasi" "waitable-set.new" (func $waitable-set-new (result i32)))
    (import "wasi" "waitable-set.drop" (func $waitable-set-drop (param i32)))
    ;; (waitable, set)
    (import "wasi" "waitable.join" (func $waitable-join (param i32 i32)))
    (import "wasi" "context.get" (func $context-get (result i32)))
    (import "wasi" "context.set" (func $context-set (param i32)))
    ;; result<own<response>, error-code>, flattened as http-hello.wat's
    ;; `response-outparam.set` explains: (tag, handle | case, i32, i64,
    ;; i32, i32, i32, i32). ok(response) is (0, response, 0, 0, 0, 0, 0, 0).
    (import "wasi" "task.return"
      (func $task-return (param i32 i32 i32 i64 i32 i32 i32 i32)))

    ;; 0..20: results of the lowered calls, read at once (no other task
    ;; runs while this instance's code does).
    ;; 64..104: the trailers' value, ok(none): 40 zero bytes, never written.
    (data (i32.const 128) "content-type")       ;; 12 bytes
    (data (i32.const 144) "text/plain")         ;; 10
    ;; The header list for `fields.from-list`: one entry,
    ;; { 128, 12, 144, 10 }: ("content-type", "text/plain").
    (data (i32.const 160)
      "\80\00\00\00" "\0c\00\00\00" "\90\00\00\00" "\0a\00\00\00")
    (data (i32.const 192) "hello from wasm\n")  ;; 16

    ;; Goes on writing the body after a write that ended with `r` (0 to
    ;; begin: nothing written yet). Returns the task's state `s` updated:
    ;; the body's bit is set if a write is BLOCKED (the stream then waits
    ;; in the task's set), and clear once the stream's writable end is
    ;; dropped, the body written or the client gone.
    (func $body (param $s i32) (param $w i32) (param $r i32) (result i32)
      (loop $more
        (if (i32.eq (local.get $r) (i32.const -1))
          (then
            (call $waitable-join (local.get $w)
              (i32.shr_u (local.get $s) (i32.const 8)))
            (return (i32.or (local.get $s) (i32.const 32)))))
        ;; At most the 16 - written bytes asked for: no carry out of bits
        ;; 0-4.
        (local.set $s (i32.add (local.get $s)
          (i32.shr_u (local.get $r) (i32.const 4))))
        ;; Only a COMPLETED write may be followed by another.
        (if (i32.and (i32.eqz (i32.and (local.get $r) (i32.const 0xf)))
                     (i32.ne (i32.and (local.get $s) (i32.const 31))
                             (i32.const 16)))
          (then
            (local.set $r (call $bytes-write (local.get $w)
              (i32.add (i32.const 192) (i32.and (local.get $s) (i32.const 31)))
              (i32.sub (i32.const 16) (i32.and (local.get $s) (i32.const 31)))))
            (br $more))))
      (call $bytes-drop-writable (local.get $w))
      (i32.and (local.get $s) (i32.const -33)))

    ;; Waits while a write is BLOCKED; else the task is over.
    (func $wait-or-exit (param $s i32) (result i32)
      (if (i32.eqz (i32.and (local.get $s) (i32.const 96)))
        (then
          (call $waitable-set-drop (i32.shr_u (local.get $s) (i32.const 8)))
          (return (i32.const 0))))              ;; EXIT
      (call $context-set (local.get $s))
      ;; WAIT on the set: 2 | set << 4.
      (i32.or (i32.const 2)
        (i32.and (i32.shr_u (local.get $s) (i32.const 4)) (i32.const -16))))

    ;; `wasi:http/handler.handle`: (own<request>) -> callback code.
    (func (export "handle") (param $request i32) (result i32)
      (local $fields i32) (local $body i64) (local $trailers i64)
      (local $s i32) (local $r i32)
      (call $drop-request (local.get $request))

      ;; The response: its headers, a body stream and a trailers future,
      ;; whose readable ends go to the host and writable ends stay here.
      (call $fields-from-list (i32.const 160) (i32.const 1) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then unreachable))
      (local.set $fields (i32.load (i32.const 4)))
      (local.set $body (call $bytes-new))
      (local.set $trailers (call $trailers-new))
      (call $response-new (local.get $fields)
        (i32.const 1) (i32.wrap_i64 (local.get $body))   ;; some(stream)
        (i32.wrap_i64 (local.get $trailers))
        (i32.const 0))
      (call $sent-drop-readable (i32.load (i32.const 4)))
      ;; Answer now: the host sends the head and reads the body after
      ;; `handle` returns.
      (call $task-return (i32.const 0) (i32.load (i32.const 0))
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0))

      ;; The body and the trailers.
      (local.set $s (i32.shl (call $waitable-set-new) (i32.const 8)))
      (local.set $s (call $body (local.get $s)
        (i32.wrap_i64 (i64.shr_u (local.get $body) (i64.const 32)))
        (i32.const 0)))
      (local.set $r (i32.wrap_i64 (i64.shr_u (local.get $trailers) (i64.const 32))))
      (if (i32.eq (call $trailers-write (local.get $r) (i32.const 64))
                  (i32.const -1))
        (then
          (call $waitable-join (local.get $r)
            (i32.shr_u (local.get $s) (i32.const 8)))
          (local.set $s (i32.or (local.get $s) (i32.const 64))))
        (else (call $trailers-drop-writable (local.get $r))))
      (call $wait-or-exit (local.get $s)))

    ;; The callback: (event code, waitable, payload) -> callback code.
    (func (export "handle-callback")
      (param $event i32) (param $waitable i32) (param $payload i32)
      (result i32)
      (local $s i32)
      (local.set $s (call $context-get))
      ;; 3 STREAM_WRITE: a write of the body ended.
      (if (i32.eq (local.get $event) (i32.const 3))
        (then (local.set $s (call $body (local.get $s) (local.get $waitable)
          (local.get $payload)))))
      ;; 5 FUTURE_WRITE: the trailers were taken (or the client is gone).
      (if (i32.eq (local.get $event) (i32.const 5))
        (then
          (call $trailers-drop-writable (local.get $waitable))
          (local.set $s (i32.and (local.get $s) (i32.const -65)))))
      (call $wait-or-exit (local.get $s))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "fields-from-list" (func $fields-from-list))
      (export "response-new" (func $response-new))
      (export "drop-request" (func $drop-request))
      (export "bytes-new" (func $bytes-new))
      (export "bytes-write" (func $bytes-write))
      (export "bytes-drop-writable" (func $bytes-drop-writable))
      (export "trailers-new" (func $trailers-new))
      (export "trailers-write" (func $trailers-write))
      (export "trailers-drop-writable" (func $trailers-drop-writable))
      (export "sent-drop-readable" (func $sent-drop-readable))
      (export "waitable-set.new" (func $waitable-set-new))
      (export "waitable-set.drop" (func $waitable-set-drop))
      (export "waitable.join" (func $waitable-join))
      (export "context.get" (func $context-get))
      (export "context.set" (func $context-set))
      (export "task.return" (func $task-return))))))
  (alias core export $main "handle-callback" (core func $handle-callback))

  ;; --- Export --------------------------------------------------------------
  ;; `wasi:http/handler.handle: async func(request: request) ->
  ;; result<response, error-code>`. The instance re-exports the types the
  ;; interface `use`s.
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
