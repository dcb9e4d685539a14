;; A WASI 0.3 HTTP service for the tests of instance reuse: its answers
;; tell whether the requests that got them were served by one instance or
;; by several. It is http-hello-p3.wat (examples/http-service/) with a few
;; routes added, and exports `wasi:http/handler@0.3.0` the same way: an
;; async `handle` lifted with a callback. It reads the request's path
;; (`request.get-path-with-query`; none counts as "") and answers:
;;
;;   /spin      never: it loops in wasm forever without calling the host.
;;              Only an interruption (an epoch deadline) stops it.
;;   /trap      never: it traps at once (`unreachable`), so the host
;;              answers 500 and the instance cannot be used again.
;;   /hang      never, without using any CPU: `handle` returns WAIT on a
;;              waitable set that holds nothing, so no event ever comes
;;              and the task stays pending until the host gives up on it
;;              (its request timeout).
;;   other      200, `content-type: text/plain`, and as the body the number
;;              of requests this instance has started, this one included,
;;              in decimal and followed by "\n".
;;
;; The count is a global that every call of `handle` adds one to before it
;; looks at the path (so /spin, /trap and /hang requests count too). An
;; instance made for a single request therefore always answers "1\n"; one
;; that is reused answers "1\n", "2\n", "3\n"... in the order the requests
;; started.
;;
;; Several requests may be in flight in one instance at once (`wasmtime
;; serve` runs up to 16 at a time in one instance of a WASI 0.3 service).
;; Each request's task gets a 32-byte slot of memory of its own, found
;; again in the callback through the task's context (`context.set`/
;; `context.get`). The slot holds the body's text, so a write the host has
;; not taken yet still points at this request's own number whatever other
;; requests do meanwhile. Slots are carved out of pages added with
;; `memory.grow` (the first page is kept for the data below and the path)
;; and are reused, through a free list, once their task has ended; running
;; out of memory traps. The slot, at `s`:
;;
;;   s+0    the next free slot, while free
;;   s+4    the task's waitable set
;;   s+8    bit 0: a write of the body is BLOCKED;
;;          bit 1: the write of the trailers is BLOCKED
;;   s+12   the next byte of the body to write
;;   s+16   how many bytes of the body are left to write
;;   s+20   the body: up to 10 digits, then "\n", ending at s+31
;;
;; The path is a string the host copies into this memory through
;; `cabi_realloc`, a bump allocator over the first page above 1 KiB: it
;; traps rather than go past the first page, so a path of more than
;; about 63 KiB makes the host answer 500. Nothing allocated is freed one
;; piece at a time; instead `handle` sets the allocator back to its start
;; once it has compared the path with the routes. That is safe with many
;; requests in flight: the host calls `cabi_realloc` only while it lowers
;; the result of `get-path-with-query`, inside a call of `handle`, and no
;; other task runs this instance's code until that call returns (an
;; instance whose exports are lifted with a callback is not re-entered).
;; So whenever `handle` is not running, nothing in the area is in use.
;;
;; Apart from that it works as http-hello-p3.wat explains (read that
;; first): the response, with a stream for its body and a future for its
;; trailers, is handed over with `task.return`, and then the body and
;; `ok(none)` (no trailers) are written; the callback deals with the
;; writes that were BLOCKED and the task ends when both are done. A step
;; that cannot fail on a well-behaved host traps if it does, and the host
;; answers 500.
(component $p3-counter
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
    ;; The request's path and query, as the client sent it (e.g. "/spin"
    ;; or "/a?b=c"); none stands for an empty one.
    (export "[method]request.get-path-with-query" (func
      (param "self" (borrow $request))
      (result (option string))))
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

  ;; --- Memory and allocator ----------------------------------------------
  ;; In a module of its own, so that the lowered functions can name them
  ;; before the main module exists. `arena` is the allocator's next free
  ;; byte, exported so that `handle` can set it back to 1024 (see above).
  (core module $Memory
    (memory (export "memory") 1)
    (global $next (export "arena") (mut i32) (i32.const 1024))
    ;; The canonical ABI's `(old-ptr, old-size, align, new-size) -> ptr`,
    ;; within [1024, 65536): the first page, above the main module's data.
    ;; The ABI gives realloc no way to fail, so running out traps.
    (func (export "cabi_realloc")
      (param $old i32) (param $old-size i32) (param $align i32)
      (param $new-size i32) (result i32)
      (local $ptr i32)
      ;; Round the next free byte up to `align` (a power of two, at most
      ;; 8 here). `next` is at most 65536, which every such `align`
      ;; divides, so `ptr` is at most 65536 too.
      (local.set $ptr (i32.and
        (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
      (if (i32.gt_u (local.get $ptr) (i32.const 65536)) (then unreachable))
      (if (i32.gt_u (local.get $new-size)
                    (i32.sub (i32.const 65536) (local.get $ptr)))
        (then unreachable))
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
  (core func $get-path (canon lower
    (func $types "[method]request.get-path-with-query")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
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
    (import "env" "arena" (global $arena (mut i32)))
    ;; (request, result ptr); the result is option<string>, 12 bytes:
    ;; { u8 tag; at 4 the string's ptr; at 8 its length }.
    (import "wasi" "get-path" (func $get-path (param i32 i32)))
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
    ;; result<own<response>, error-code>, flattened: (tag, handle | case,
    ;; i32, i64, i32, i32, i32, i32). ok(response) is (0, response, 0, 0,
    ;; 0, 0, 0, 0).
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
    ;; The routes, 5 bytes each.
    (data (i32.const 192) "/spin")
    (data (i32.const 200) "/trap")
    (data (i32.const 208) "/hang")
    ;; 1024..65536: the allocator's area, for the path.

    ;; Requests started in this instance so far.
    (global $count (mut i32) (i32.const 0))
    ;; The free slots, linked through their first word (0: none), and the
    ;; part of the last page added that is not yet carved into slots.
    (global $free (mut i32) (i32.const 0))
    (global $carve (mut i32) (i32.const 0))
    (global $carve-end (mut i32) (i32.const 0))

    ;; Whether the `len` bytes at `a` are the 5 bytes at `b`.
    (func $is (param $a i32) (param $len i32) (param $b i32) (result i32)
      (if (i32.ne (local.get $len) (i32.const 5)) (then (return (i32.const 0))))
      (i32.and
        (i32.eq (i32.load (local.get $a)) (i32.load (local.get $b)))
        (i32.eq (i32.load8_u offset=4 (local.get $a))
                (i32.load8_u offset=4 (local.get $b)))))

    ;; A slot: a free one, or a new one, from a new page if need be.
    (func $slot-alloc (result i32)
      (local $s i32)
      (if (global.get $free)
        (then
          (local.set $s (global.get $free))
          (global.set $free (i32.load (local.get $s)))
          (return (local.get $s))))
      (if (i32.eq (global.get $carve) (global.get $carve-end))
        (then
          (local.set $s (memory.grow (i32.const 1)))
          (if (i32.eq (local.get $s) (i32.const -1)) (then unreachable))
          (global.set $carve (i32.shl (local.get $s) (i32.const 16)))
          (global.set $carve-end
            (i32.add (global.get $carve) (i32.const 65536)))))
      (local.set $s (global.get $carve))
      (global.set $carve (i32.add (local.get $s) (i32.const 32)))
      (local.get $s))

    ;; Goes on writing the body after a write to `w` that ended with `r`
    ;; (0 to begin: nothing written yet). Sets bit 0 of the slot's flags
    ;; if a write is BLOCKED (the stream then waits in the task's set);
    ;; clears it once the stream's writable end is dropped, the body
    ;; written or the client gone.
    (func $body (param $s i32) (param $w i32) (param $r i32)
      (local $n i32)
      (loop $more
        (if (i32.eq (local.get $r) (i32.const -1))
          (then
            (call $waitable-join (local.get $w) (i32.load offset=4 (local.get $s)))
            (i32.store offset=8 (local.get $s)
              (i32.or (i32.load offset=8 (local.get $s)) (i32.const 1)))
            (return)))
        (local.set $n (i32.shr_u (local.get $r) (i32.const 4)))
        (i32.store offset=12 (local.get $s)
          (i32.add (i32.load offset=12 (local.get $s)) (local.get $n)))
        (i32.store offset=16 (local.get $s)
          (i32.sub (i32.load offset=16 (local.get $s)) (local.get $n)))
        ;; Only a COMPLETED write may be followed by another.
        (if (i32.and (i32.eqz (i32.and (local.get $r) (i32.const 0xf)))
                     (i32.ne (i32.load offset=16 (local.get $s)) (i32.const 0)))
          (then
            (local.set $r (call $bytes-write (local.get $w)
              (i32.load offset=12 (local.get $s))
              (i32.load offset=16 (local.get $s))))
            (br $more))))
      (call $bytes-drop-writable (local.get $w))
      (i32.store offset=8 (local.get $s)
        (i32.and (i32.load offset=8 (local.get $s)) (i32.const -2))))

    ;; Waits while a write is BLOCKED; else the task is over and its slot
    ;; is freed.
    (func $wait-or-exit (param $s i32) (result i32)
      (if (i32.eqz (i32.and (i32.load offset=8 (local.get $s)) (i32.const 3)))
        (then
          (call $waitable-set-drop (i32.load offset=4 (local.get $s)))
          (i32.store (local.get $s) (global.get $free))
          (global.set $free (local.get $s))
          (return (i32.const 0))))              ;; EXIT
      ;; WAIT on the set: 2 | set << 4.
      (i32.or (i32.const 2)
        (i32.shl (i32.load offset=4 (local.get $s)) (i32.const 4))))

    ;; `wasi:http/handler.handle`: (own<request>) -> callback code.
    (func (export "handle") (param $request i32) (result i32)
      (local $ptr i32) (local $len i32) (local $n i32) (local $p i32)
      (local $s i32) (local $fields i32) (local $body i64)
      (local $trailers i64) (local $w i32)
      (global.set $count (i32.add (global.get $count) (i32.const 1)))

      ;; The path; none is "".
      (call $get-path (local.get $request) (i32.const 0))
      (if (i32.load8_u (i32.const 0))
        (then
          (local.set $ptr (i32.load (i32.const 4)))
          (local.set $len (i32.load (i32.const 8)))))
      (if (call $is (local.get $ptr) (local.get $len) (i32.const 200))
        (then unreachable))                     ;; /trap
      (if (call $is (local.get $ptr) (local.get $len) (i32.const 192))
        (then (loop $spin (br $spin))))         ;; /spin
      (if (call $is (local.get $ptr) (local.get $len) (i32.const 208))
        (then
          ;; /hang: WAIT on a new, empty set; the callback is never called.
          (global.set $arena (i32.const 1024))
          (call $drop-request (local.get $request))
          (return (i32.or (i32.const 2)
            (i32.shl (call $waitable-set-new) (i32.const 4))))))
      ;; The path has been used: the allocator's area is free again.
      (global.set $arena (i32.const 1024))
      (call $drop-request (local.get $request))

      ;; The body, in the slot: the count's digits, last first, before
      ;; the "\n" at s+30.
      (local.set $s (call $slot-alloc))
      (call $context-set (local.get $s))
      (i32.store offset=8 (local.get $s) (i32.const 0))
      (i32.store8 offset=30 (local.get $s) (i32.const 10))
      (local.set $p (i32.add (local.get $s) (i32.const 30)))
      (local.set $n (global.get $count))
      (loop $digit
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p)
          (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
        (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
        (br_if $digit (local.get $n)))
      (i32.store offset=12 (local.get $s) (local.get $p))
      (i32.store offset=16 (local.get $s)
        (i32.sub (i32.add (local.get $s) (i32.const 31)) (local.get $p)))

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
      (i32.store offset=4 (local.get $s) (call $waitable-set-new))
      (call $body (local.get $s)
        (i32.wrap_i64 (i64.shr_u (local.get $body) (i64.const 32)))
        (i32.const 0))
      (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $trailers) (i64.const 32))))
      (if (i32.eq (call $trailers-write (local.get $w) (i32.const 64))
                  (i32.const -1))
        (then
          (call $waitable-join (local.get $w) (i32.load offset=4 (local.get $s)))
          (i32.store offset=8 (local.get $s)
            (i32.or (i32.load offset=8 (local.get $s)) (i32.const 2))))
        (else (call $trailers-drop-writable (local.get $w))))
      (call $wait-or-exit (local.get $s)))

    ;; The callback: (event code, waitable, payload) -> callback code.
    ;; Only the tasks of plain requests wait for events, so the context
    ;; is always a slot.
    (func (export "handle-callback")
      (param $event i32) (param $waitable i32) (param $payload i32)
      (result i32)
      (local $s i32)
      (local.set $s (call $context-get))
      (if (i32.eqz (local.get $s)) (then unreachable))
      ;; 3 STREAM_WRITE: a write of the body ended.
      (if (i32.eq (local.get $event) (i32.const 3))
        (then (call $body (local.get $s) (local.get $waitable)
          (local.get $payload))))
      ;; 5 FUTURE_WRITE: the trailers were taken (or the client is gone).
      (if (i32.eq (local.get $event) (i32.const 5))
        (then
          (call $trailers-drop-writable (local.get $waitable))
          (i32.store offset=8 (local.get $s)
            (i32.and (i32.load offset=8 (local.get $s)) (i32.const -3)))))
      (call $wait-or-exit (local.get $s))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "get-path" (func $get-path))
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
