;; A WASI 0.2 HTTP proxy component, written by hand: it exports
;; `wasi:http/incoming-handler`, so a host such as `wasmtime serve` calls its
;; `handle` once per request (in a fresh instance each time). It answers
;;
;;   /fail               500  "failing\n"
;;   /sleep...           200  "slept\n", after blocking for one second
;;   anything else       200  "hello from wasm\n"
;;
;; each with the header `content-type: text/plain`. Only the path decides:
;; `/fail` is matched up to the first `?` (so `/fail?x=1` fails too), and
;; `/sleep` is a prefix of the path with its query (`/sleep`, `/sleep?ms=5`,
;; `/sleepy`). A request without a path gets the hello. The request's body is
;; never read. The one-second sleep lets tests see request timeouts and a
;; graceful drain with a request in flight.
;;
;; A step that cannot fail on a well-behaved host (building the headers, the
;; status code, taking the response's body) traps if it does; the host then
;; answers 500 itself. A failed write of the body (the client has gone) or a
;; failed `finish` is ignored: nothing is left to tell.
;; The interface versions are the ones wasmtime-wasi-http 48 declares
;; (`wasi:http@0.2.12`, with wasi:io and wasi:clocks at 0.2.12).
(component $http-hello
  ;; --- Imports -----------------------------------------------------------
  ;; Each import lists only what the handler uses. Named types (resources,
  ;; enums, records, variants) that a function signature mentions must be
  ;; exported by the instance type, so they are re-exported with `eq` from
  ;; the instance that defines them, as `use` does in WIT.

  ;; wasi:io/error, only for its `error` resource, which `stream-error` holds.
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))

  ;; wasi:io/poll: waiting on the sleep's timer.
  (import "wasi:io/poll@0.2.12" (instance $poll
    (export "pollable" (type $pollable (sub resource)))
    (export "[method]pollable.block" (func
      (param "self" (borrow $pollable))))))
  (alias export $poll "pollable" (type $pollable))

  ;; wasi:clocks/monotonic-clock: a timer that is ready after a duration.
  ;; `duration` is WIT's `type duration = u64`, an alias, so the plain u64
  ;; stands in for it.
  (import "wasi:clocks/monotonic-clock@0.2.12" (instance $monotonic-clock
    (alias outer $http-hello $pollable (type $pollable))
    (export "pollable" (type $pollable-e (eq $pollable)))
    (export "subscribe-duration" (func
      (param "when" u64)
      (result (own $pollable-e))))))

  ;; wasi:io/streams: writing to an output stream (the response's body).
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer $http-hello $error (type $error))
    (export "error" (type $error-e (eq $error)))
    (export "output-stream" (type $output-stream (sub resource)))
    (type $stream-error (variant
      (case "last-operation-failed" (own $error-e))
      (case "closed")))
    (export "stream-error" (type $stream-error-e (eq $stream-error)))
    (export "[method]output-stream.blocking-write-and-flush" (func
      (param "self" (borrow $output-stream))
      (param "contents" (list u8))
      (result (result (error $stream-error-e)))))))
  (alias export $streams "output-stream" (type $output-stream))

  ;; wasi:http/types: the request, the response and its pieces. `error-code`
  ;; is spelled out in full, with the three records its cases carry, because
  ;; `response-outparam.set` and `outgoing-body.finish` mention it and an
  ;; imported function's type must match the host's exactly. WIT's
  ;; `field-name` and `field-value` are aliases of `string` and `list<u8>`,
  ;; and `headers`/`trailers` of `fields`, so the plain types stand in.
  (import "wasi:http/types@0.2.12" (instance $types
    (alias outer $http-hello $output-stream (type $output-stream))
    (export "output-stream" (type $output-stream-e (eq $output-stream)))
    (export "fields" (type $fields (sub resource)))
    (export "incoming-request" (type $incoming-request (sub resource)))
    (export "outgoing-response" (type $outgoing-response (sub resource)))
    (export "outgoing-body" (type $outgoing-body (sub resource)))
    (export "response-outparam" (type $response-outparam (sub resource)))
    (type $header-error (variant
      (case "invalid-syntax")
      (case "forbidden")
      (case "immutable")))
    (export "header-error" (type $header-error-e (eq $header-error)))
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
    (export "[static]fields.from-list" (func
      (param "entries" (list (tuple string (list u8))))
      (result (result (own $fields) (error $header-error-e)))))
    (export "[method]incoming-request.path-with-query" (func
      (param "self" (borrow $incoming-request))
      (result (option string))))
    (export "[constructor]outgoing-response" (func
      (param "headers" (own $fields))
      (result (own $outgoing-response))))
    (export "[method]outgoing-response.set-status-code" (func
      (param "self" (borrow $outgoing-response))
      (param "status-code" u16)
      (result (result))))
    (export "[method]outgoing-response.body" (func
      (param "self" (borrow $outgoing-response))
      (result (result (own $outgoing-body)))))
    (export "[static]response-outparam.set" (func
      (param "param" (own $response-outparam))
      (param "response" (result (own $outgoing-response)
        (error $error-code-e)))))
    (export "[method]outgoing-body.write" (func
      (param "self" (borrow $outgoing-body))
      (result (result (own $output-stream-e)))))
    (export "[static]outgoing-body.finish" (func
      (param "this" (own $outgoing-body))
      (param "trailers" (option (own $fields)))
      (result (result (error $error-code-e)))))))
  (alias export $types "incoming-request" (type $incoming-request))
  (alias export $types "response-outparam" (type $response-outparam))

  ;; --- Memory and allocator ----------------------------------------------
  ;; The lowered imports below need a linear memory (for the bytes written
  ;; and for results returned through a pointer) before the main module,
  ;; which imports them, exists; so the memory lives in its own module.
  ;; `path-with-query` returns a string, and `outgoing-body.finish` may
  ;; return an error-code holding one; the host copies those into that memory
  ;; through `cabi_realloc`: a bump allocator in the same module, above the
  ;; first 4 KiB, which hold the main module's data. Nothing is ever freed:
  ;; the host makes a fresh instance for every request, so the heap only
  ;; ever holds one request's path (and, at worst, one error message).
  (core module $Memory
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    ;; The canonical ABI's `(old-ptr, old-size, align, new-size) -> ptr`.
    ;; Out of memory traps: the ABI gives realloc no way to fail.
    (func (export "cabi_realloc")
      (param $old i32) (param $old-size i32) (param $align i32)
      (param $new-size i32) (result i32)
      (local $ptr i32) (local $end i32) (local $pages i32)
      ;; Round the next free byte up to `align` (a power of two, at most 8).
      (local.set $ptr (i32.and
        (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
      (if (i32.lt_u (local.get $ptr) (global.get $next)) (then unreachable))
      (local.set $end (i32.add (local.get $ptr) (local.get $new-size)))
      (if (i32.lt_u (local.get $end) (local.get $ptr)) (then unreachable))
      ;; Grow the memory to the 64 KiB pages that hold `end` (at most 65536
      ;; pages, so the arithmetic stays in 32 bits).
      (local.set $pages (i32.add (i32.shr_u (local.get $end) (i32.const 16))
        (i32.ne (i32.and (local.get $end) (i32.const 0xffff)) (i32.const 0))))
      (if (i32.gt_u (local.get $pages) (memory.size))
        (then
          (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size)))
                      (i32.const -1))
            (then unreachable))))
      (global.set $next (local.get $end))
      ;; A reallocation keeps the old bytes (the host never asks for one
      ;; here, but the ABI allows it).
      (if (local.get $old)
        (then (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old-size) (local.get $new-size)
            (i32.lt_u (local.get $old-size) (local.get $new-size))))))
      (local.get $ptr)))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "cabi_realloc" (core func $realloc))

  ;; --- Lowered imports ---------------------------------------------------
  ;; Core signatures follow the canonical ABI's flattening: handles, bools
  ;; and u8/u16 are i32; a result with more than one flat value is written
  ;; to a pointer passed as the last argument; parameters are passed flat as
  ;; long as they make at most 16 core values (MAX_FLAT_PARAMS), through a
  ;; pointer otherwise (no call here needs that: see `response-outparam.set`
  ;; in $Main). Memory is given to every call whose types hold a string or
  ;; a list, realloc to those whose results may.
  (core func $subscribe-duration (canon lower
    (func $monotonic-clock "subscribe-duration")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $blocking-write-and-flush (canon lower
    (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
  (core func $fields-from-list (canon lower
    (func $types "[static]fields.from-list") (memory $mem)
    string-encoding=utf8))
  (core func $path-with-query (canon lower
    (func $types "[method]incoming-request.path-with-query")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $new-outgoing-response (canon lower
    (func $types "[constructor]outgoing-response")))
  (core func $set-status-code (canon lower
    (func $types "[method]outgoing-response.set-status-code")))
  (core func $outgoing-response-body (canon lower
    (func $types "[method]outgoing-response.body") (memory $mem)))
  (core func $response-outparam-set (canon lower
    (func $types "[static]response-outparam.set")
    (memory $mem) string-encoding=utf8))
  (core func $outgoing-body-write (canon lower
    (func $types "[method]outgoing-body.write") (memory $mem)))
  (core func $outgoing-body-finish (canon lower
    (func $types "[static]outgoing-body.finish")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $drop-pollable (canon resource.drop $pollable))
  (core func $drop-output-stream (canon resource.drop $output-stream))
  (core func $drop-error (canon resource.drop $error))
  (core func $drop-incoming-request (canon resource.drop $incoming-request))

  ;; --- The handler itself --------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; (when: u64) -> own<pollable>
    (import "wasi" "subscribe-duration"
      (func $subscribe-duration (param i64) (result i32)))
    ;; (self)
    (import "wasi" "block" (func $block (param i32)))
    ;; (self, contents.ptr, contents.len, result ptr); the result is
    ;; result<_, stream-error>, 12 bytes: { u8 tag; at 4 the stream-error:
    ;; { u8 case (0 last-operation-failed, 1 closed); at 8 own<error> } }
    (import "wasi" "blocking-write-and-flush"
      (func $blocking-write-and-flush (param i32 i32 i32 i32)))
    ;; (entries.ptr, entries.len, result ptr); each entry is a
    ;; tuple<string, list<u8>> of 16 bytes: { name ptr; name len; value ptr;
    ;; value len }. The result is result<own<fields>, header-error>, 8 bytes:
    ;; { u8 tag; at 4 the fields handle, or a u8 header-error case }
    (import "wasi" "fields-from-list"
      (func $fields-from-list (param i32 i32 i32)))
    ;; (self, result ptr); the result is option<string>, 12 bytes:
    ;; { u8 tag (1 some); at 4 string ptr; at 8 string len }
    (import "wasi" "path-with-query"
      (func $path-with-query (param i32 i32)))
    ;; (headers: own<fields>) -> own<outgoing-response>
    (import "wasi" "new-outgoing-response"
      (func $new-outgoing-response (param i32) (result i32)))
    ;; (self, status-code) -> result<_, _> as one i32 (0 ok, 1 err)
    (import "wasi" "set-status-code"
      (func $set-status-code (param i32 i32) (result i32)))
    ;; (self, result ptr); the result is result<own<outgoing-body>>, 8
    ;; bytes: { u8 tag; at 4 the body handle }
    (import "wasi" "outgoing-response-body"
      (func $outgoing-response-body (param i32 i32)))
    ;; (param, then result<own<outgoing-response>, error-code> flattened).
    ;; error-code flattens to its case index (i32) and the join of its
    ;; cases' flat payloads, position by position:
    ;;   DNS-error-payload, TLS-alert-received-payload,
    ;;   field-size-payload                 i32 i32 i32 i32 i32
    ;;                                      (option<string>: tag ptr len;
    ;;                                       option<u8/u16/u32>: tag value)
    ;;   option<field-size-payload>         i32 i32 i32 i32 i32 i32
    ;;   option<u64>                        i32 i64
    ;;   option<u32>                        i32 i32
    ;;   option<string>                     i32 i32 i32
    ;; so i32 i64 i32 i32 i32 i32 (i64 where an i32 meets an i64): 7 values
    ;; with the case index. The result adds its tag (i32) and joins the ok
    ;; payload (one i32 handle) into the first of those: 8 values, and 9 with
    ;; `param`, within MAX_FLAT_PARAMS (16), so they go flat:
    ;;   (param, tag, handle | case, i32, i64, i32, i32, i32, i32)
    ;; ok(response) is (param, 0, response, 0, 0, 0, 0, 0, 0).
    (import "wasi" "response-outparam-set" (func $response-outparam-set
      (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
    ;; (self, result ptr); the result is result<own<output-stream>>, 8
    ;; bytes: { u8 tag; at 4 the stream handle }
    (import "wasi" "outgoing-body-write"
      (func $outgoing-body-write (param i32 i32)))
    ;; (this, trailers as option<own<fields>>: tag and handle, result ptr).
    ;; The result is result<_, error-code>: error-code holds an option<u64>,
    ;; so it is 8-aligned: { u8 case; at 8 a payload of at most 24 bytes }
    ;; (32 bytes), and the result is { u8 tag; at 8 the error-code } (40
    ;; bytes, 8-aligned).
    (import "wasi" "outgoing-body-finish"
      (func $outgoing-body-finish (param i32 i32 i32 i32)))
    (import "wasi" "drop-pollable" (func $drop-pollable (param i32)))
    (import "wasi" "drop-output-stream"
      (func $drop-output-stream (param i32)))
    (import "wasi" "drop-error" (func $drop-error (param i32)))
    (import "wasi" "drop-incoming-request"
      (func $drop-incoming-request (param i32)))

    ;; 0..40: results returned through a pointer (8-aligned).
    (data (i32.const 64) "content-type")        ;; 12 bytes
    (data (i32.const 80) "text/plain")          ;; 10
    ;; The header list for `fields.from-list`: one entry,
    ;; { 64, 12, 80, 10 }: ("content-type", "text/plain").
    (data (i32.const 96)
      "\40\00\00\00" "\0c\00\00\00" "\50\00\00\00" "\0a\00\00\00")
    (data (i32.const 128) "/fail")              ;; 5
    (data (i32.const 136) "/sleep")             ;; 6
    (data (i32.const 160) "hello from wasm\n")  ;; 16
    (data (i32.const 192) "failing\n")          ;; 8
    (data (i32.const 208) "slept\n")            ;; 6
    ;; cabi_realloc hands out memory from 4096 on.

    ;; Whether the `len` bytes at `a` and at `b` are the same.
    (func $same (param $a i32) (param $b i32) (param $len i32) (result i32)
      (local $i i32)
      (block $differ
        (loop $next
          (if (i32.eq (local.get $i) (local.get $len))
            (then (return (i32.const 1))))
          (br_if $differ (i32.ne
            (i32.load8_u (i32.add (local.get $a) (local.get $i)))
            (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
      (i32.const 0))

    ;; `wasi:http/incoming-handler.handle`: (own<incoming-request>,
    ;; own<response-outparam>), both handles this call now owns.
    (func (export "handle") (param $request i32) (param $outparam i32)
      (local $ptr i32) (local $len i32) (local $path-len i32)
      (local $status i32) (local $body-ptr i32) (local $body-len i32)
      (local $pollable i32) (local $response i32) (local $body i32)
      (local $stream i32)
      (local.set $status (i32.const 200))
      (local.set $body-ptr (i32.const 160))
      (local.set $body-len (i32.const 16))

      ;; The path with its query, if the request has one.
      (call $path-with-query (local.get $request) (i32.const 0))
      (if (i32.load8_u (i32.const 0))
        (then
          (local.set $ptr (i32.load (i32.const 4)))
          (local.set $len (i32.load (i32.const 8)))
          ;; The path alone ends at the first `?`.
          (block $end
            (loop $scan
              (br_if $end (i32.eq (local.get $path-len) (local.get $len)))
              (br_if $end (i32.eq (i32.const 63) ;; '?'
                (i32.load8_u (i32.add (local.get $ptr) (local.get $path-len)))))
              (local.set $path-len (i32.add (local.get $path-len) (i32.const 1)))
              (br $scan)))
          (if (i32.and (i32.eq (local.get $path-len) (i32.const 5))
                       (call $same (local.get $ptr) (i32.const 128) (i32.const 5)))
            (then
              (local.set $status (i32.const 500))
              (local.set $body-ptr (i32.const 192))
              (local.set $body-len (i32.const 8)))
            (else
              (if (i32.and (i32.ge_u (local.get $len) (i32.const 6))
                           (call $same (local.get $ptr) (i32.const 136) (i32.const 6)))
                (then
                  ;; One second, in nanoseconds, before anything is sent.
                  (local.set $pollable
                    (call $subscribe-duration (i64.const 1_000_000_000)))
                  (call $block (local.get $pollable))
                  (call $drop-pollable (local.get $pollable))
                  (local.set $body-ptr (i32.const 208))
                  (local.set $body-len (i32.const 6))))))))
      (call $drop-incoming-request (local.get $request))

      ;; The response: its headers (which the constructor takes), its status
      ;; and its body, then the response goes to the host, which starts
      ;; sending it.
      (call $fields-from-list (i32.const 96) (i32.const 1) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then unreachable))
      (local.set $response
        (call $new-outgoing-response (i32.load (i32.const 4))))
      (if (call $set-status-code (local.get $response) (local.get $status))
        (then unreachable))
      (call $outgoing-response-body (local.get $response) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then unreachable))
      (local.set $body (i32.load (i32.const 4)))
      (call $response-outparam-set (local.get $outparam)
        (i32.const 0)                         ;; ok
        (local.get $response)
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0))

      ;; The body's bytes. If the client has gone, the write fails; only the
      ;; error resource that `last-operation-failed` carries is dropped.
      (call $outgoing-body-write (local.get $body) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then unreachable))
      (local.set $stream (i32.load (i32.const 4)))
      (call $blocking-write-and-flush (local.get $stream)
        (local.get $body-ptr) (local.get $body-len) (i32.const 0))
      (if (i32.load8_u (i32.const 0))
        (then
          (if (i32.eqz (i32.load8_u (i32.const 4)))
            (then (call $drop-error (i32.load (i32.const 8)))))))
      ;; The stream is the body's child, so it goes before `finish`, which
      ;; ends the body without trailers (its error, if any, is ignored).
      (call $drop-output-stream (local.get $stream))
      (call $outgoing-body-finish (local.get $body)
        (i32.const 0) (i32.const 0)           ;; none
        (i32.const 0))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "subscribe-duration" (func $subscribe-duration))
      (export "block" (func $block))
      (export "blocking-write-and-flush" (func $blocking-write-and-flush))
      (export "fields-from-list" (func $fields-from-list))
      (export "path-with-query" (func $path-with-query))
      (export "new-outgoing-response" (func $new-outgoing-response))
      (export "set-status-code" (func $set-status-code))
      (export "outgoing-response-body" (func $outgoing-response-body))
      (export "response-outparam-set" (func $response-outparam-set))
      (export "outgoing-body-write" (func $outgoing-body-write))
      (export "outgoing-body-finish" (func $outgoing-body-finish))
      (export "drop-pollable" (func $drop-pollable))
      (export "drop-output-stream" (func $drop-output-stream))
      (export "drop-error" (func $drop-error))
      (export "drop-incoming-request" (func $drop-incoming-request))))))

  ;; --- Export --------------------------------------------------------------
  ;; `wasi:http/incoming-handler.handle: func(request: incoming-request,
  ;; response-out: response-outparam)`: two handles in, nothing out, so no
  ;; memory or post-return is needed. The instance re-exports the two
  ;; resource types, as the interface's `use types.{...}` does.
  (func $handle
    (param "request" (own $incoming-request))
    (param "response-out" (own $response-outparam))
    (canon lift (core func $main "handle")))
  (instance $incoming-handler
    (export "incoming-request" (type $incoming-request))
    (export "response-outparam" (type $response-outparam))
    (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $incoming-handler)))
