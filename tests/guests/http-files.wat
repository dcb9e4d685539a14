;; A WASI 0.2 HTTP proxy component that reads a file, written by hand in the
;; manner of examples/http-service/http-hello.wat (whose comments explain
;; the canonical ABI flattening and the bump allocator used here too). On
;; every request, whatever its path, it reads `f.txt` in its working
;; directory, which reaches a WASI 0.2 guest as the preopen named ".", and
;; answers
;;
;;   200  the file's bytes
;;   500  "no preopen\n"    no preopen is named "."
;;   500  "open failed\n"   `open-at` of f.txt failed
;;   500  "read failed\n"   a `read` failed
;;   500  "too large\n"     16 reads (of at most 4 KiB each) did not reach its end
;;
;; each with the header `content-type: text/plain`. The host makes a fresh
;; instance for every request, so each request asks the host for its
;; preopens anew: the engine's tests use it to see which directory a later
;; request's "." is, after the guest's volume has changed on the host.
;;
;; As in http-hello, a step that cannot fail on a well-behaved host traps
;; if it does, and a failed write of the body is ignored.
;; The interface versions are the ones wasmtime-wasi 48 and
;; wasmtime-wasi-http 48 declare (`@0.2.12`).
(component $http-files
  ;; --- Imports -----------------------------------------------------------
  ;; Each import lists only what the handler uses; a named type that a
  ;; function mentions is exported by the instance (with `eq`), as `use`
  ;; does in WIT. Imported function types must match the host's exactly,
  ;; so every flag of a flags type and every case of an enum or variant is
  ;; spelled out as the host's WIT declares it.

  ;; wasi:io/error, only for its `error` resource, which `stream-error` holds.
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))

  ;; wasi:io/streams: writing to an output stream (the response's body).
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer $http-files $error (type $error))
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

  ;; wasi:filesystem/types: opening a file beneath a directory descriptor
  ;; and reading it. WIT's `filesize` is an alias of u64, so the plain u64
  ;; stands in for it.
  (import "wasi:filesystem/types@0.2.12" (instance $fs-types
    (export "descriptor" (type $descriptor (sub resource)))
    (type $path-flags (flags "symlink-follow"))
    (export "path-flags" (type $path-flags-e (eq $path-flags)))
    (type $open-flags (flags "create" "directory" "exclusive" "truncate"))
    (export "open-flags" (type $open-flags-e (eq $open-flags)))
    (type $descriptor-flags (flags
      "read" "write" "file-integrity-sync" "data-integrity-sync"
      "requested-write-sync" "mutate-directory"))
    (export "descriptor-flags" (type $descriptor-flags-e
      (eq $descriptor-flags)))
    (type $error-code (enum
      "access" "would-block" "already" "bad-descriptor" "busy" "deadlock"
      "quota" "exist" "file-too-large" "illegal-byte-sequence"
      "in-progress" "interrupted" "invalid" "io" "is-directory" "loop"
      "too-many-links" "message-size" "name-too-long" "no-device"
      "no-entry" "no-lock" "insufficient-memory" "insufficient-space"
      "not-directory" "not-empty" "not-recoverable" "unsupported" "no-tty"
      "no-such-device" "overflow" "not-permitted" "pipe" "read-only"
      "invalid-seek" "text-file-busy" "cross-device"))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (export "[method]descriptor.open-at" (func
      (param "self" (borrow $descriptor))
      (param "path-flags" $path-flags-e)
      (param "path" string)
      (param "open-flags" $open-flags-e)
      (param "flags" $descriptor-flags-e)
      (result (result (own $descriptor) (error $error-code-e)))))
    (export "[method]descriptor.read" (func
      (param "self" (borrow $descriptor))
      (param "length" u64)
      (param "offset" u64)
      (result (result (tuple (list u8) bool) (error $error-code-e)))))))
  (alias export $fs-types "descriptor" (type $descriptor))

  ;; wasi:filesystem/preopens: the directories granted, with their names.
  (import "wasi:filesystem/preopens@0.2.12" (instance $preopens
    (alias outer $http-files $descriptor (type $descriptor))
    (export "descriptor" (type $descriptor-e (eq $descriptor)))
    (export "get-directories" (func
      (result (list (tuple (own $descriptor-e) string)))))))

  ;; wasi:http/types: the request, the response and its pieces, as in
  ;; http-hello (without `path-with-query`: the path does not matter here).
  (import "wasi:http/types@0.2.12" (instance $types
    (alias outer $http-files $output-stream (type $output-stream))
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
  ;; As in http-hello: the memory and a bump `cabi_realloc` above the first
  ;; 4 KiB live in a module of their own, so the lowered imports can name
  ;; them before the main module exists. The host allocates the preopens'
  ;; list and names and each chunk read from the file there; nothing is
  ;; freed, as an instance serves one request.
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
      ;; Grow the memory to the 64 KiB pages that hold `end`.
      (local.set $pages (i32.add (i32.shr_u (local.get $end) (i32.const 16))
        (i32.ne (i32.and (local.get $end) (i32.const 0xffff)) (i32.const 0))))
      (if (i32.gt_u (local.get $pages) (memory.size))
        (then
          (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size)))
                      (i32.const -1))
            (then unreachable))))
      (global.set $next (local.get $end))
      (if (local.get $old)
        (then (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old-size) (local.get $new-size)
            (i32.lt_u (local.get $old-size) (local.get $new-size))))))
      (local.get $ptr)))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "cabi_realloc" (core func $realloc))

  ;; --- Lowered imports ---------------------------------------------------
  (core func $blocking-write-and-flush (canon lower
    (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
  (core func $get-directories (canon lower
    (func $preopens "get-directories")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $open-at (canon lower
    (func $fs-types "[method]descriptor.open-at")
    (memory $mem) string-encoding=utf8))
  (core func $read (canon lower
    (func $fs-types "[method]descriptor.read")
    (memory $mem) (realloc $realloc)))
  (core func $fields-from-list (canon lower
    (func $types "[static]fields.from-list") (memory $mem)
    string-encoding=utf8))
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
  (core func $drop-descriptor (canon resource.drop $descriptor))
  (core func $drop-output-stream (canon resource.drop $output-stream))
  (core func $drop-error (canon resource.drop $error))
  (core func $drop-incoming-request (canon resource.drop $incoming-request))

  ;; --- The handler itself --------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; (self, contents.ptr, contents.len, result ptr); the result is
    ;; result<_, stream-error>, 12 bytes: { u8 tag; at 4 the stream-error:
    ;; { u8 case (0 last-operation-failed, 1 closed); at 8 own<error> } }
    (import "wasi" "blocking-write-and-flush"
      (func $blocking-write-and-flush (param i32 i32 i32 i32)))
    ;; (result ptr); the result is list<tuple<own<descriptor>, string>>,
    ;; 8 bytes: { list ptr; list len }. Each element is 12 bytes:
    ;; { descriptor handle; name ptr; name len }.
    (import "wasi" "get-directories" (func $get-directories (param i32)))
    ;; (self, path-flags, path.ptr, path.len, open-flags, descriptor-flags,
    ;; result ptr): each flags type has at most 8 flags, so it is one i32
    ;; (bit i for the i-th flag). The result is result<own<descriptor>,
    ;; error-code>, 8 bytes: { u8 tag; at 4 the handle, or a u8 error-code }.
    (import "wasi" "open-at"
      (func $open-at (param i32 i32 i32 i32 i32 i32 i32)))
    ;; (self, length, offset, result ptr); the result is
    ;; result<tuple<list<u8>, bool>, error-code>, 16 bytes: { u8 tag; at 4
    ;; the bytes' ptr (or a u8 error-code); at 8 their len; at 12 u8 eof }.
    ;; wasmtime-wasi reports eof only with an empty read.
    (import "wasi" "read" (func $read (param i32 i64 i64 i32)))
    ;; (entries.ptr, entries.len, result ptr): as in http-hello.
    (import "wasi" "fields-from-list"
      (func $fields-from-list (param i32 i32 i32)))
    (import "wasi" "new-outgoing-response"
      (func $new-outgoing-response (param i32) (result i32)))
    (import "wasi" "set-status-code"
      (func $set-status-code (param i32 i32) (result i32)))
    (import "wasi" "outgoing-response-body"
      (func $outgoing-response-body (param i32 i32)))
    ;; (param, tag, handle | case, i32, i64, i32, i32, i32, i32): see
    ;; http-hello for how result<own<outgoing-response>, error-code>
    ;; flattens.
    (import "wasi" "response-outparam-set" (func $response-outparam-set
      (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
    (import "wasi" "outgoing-body-write"
      (func $outgoing-body-write (param i32 i32)))
    ;; (this, trailers: tag and handle, result ptr); the result is 40
    ;; bytes, 8-aligned.
    (import "wasi" "outgoing-body-finish"
      (func $outgoing-body-finish (param i32 i32 i32 i32)))
    (import "wasi" "drop-descriptor" (func $drop-descriptor (param i32)))
    (import "wasi" "drop-output-stream"
      (func $drop-output-stream (param i32)))
    (import "wasi" "drop-error" (func $drop-error (param i32)))
    (import "wasi" "drop-incoming-request"
      (func $drop-incoming-request (param i32)))

    ;; 0..40: results returned through a pointer (8-aligned).
    (data (i32.const 64) "content-type")        ;; 12 bytes
    (data (i32.const 80) "text/plain")          ;; 10
    ;; The header list: one entry ("content-type", "text/plain").
    (data (i32.const 96)
      "\40\00\00\00" "\0c\00\00\00" "\50\00\00\00" "\0a\00\00\00")
    (data (i32.const 128) "f.txt")              ;; 5
    (data (i32.const 144) "no preopen\n")       ;; 11
    (data (i32.const 160) "open failed\n")      ;; 12
    (data (i32.const 176) "read failed\n")      ;; 12
    (data (i32.const 192) "too large\n")        ;; 10
    ;; 256..384: the chunks read, at most 16 of { ptr; len }.
    ;; cabi_realloc hands out memory from 4096 on.

    ;; `wasi:http/incoming-handler.handle`: (own<incoming-request>,
    ;; own<response-outparam>), both handles this call now owns.
    (func (export "handle") (param $request i32) (param $outparam i32)
      (local $status i32) (local $body-ptr i32) (local $body-len i32)
      (local $list i32) (local $count i32) (local $i i32) (local $entry i32)
      (local $found i32) (local $dir i32) (local $file i32)
      (local $chunks i32) (local $offset i64) (local $len i32)
      (local $response i32) (local $body i32) (local $stream i32)
      (call $drop-incoming-request (local.get $request))
      (local.set $status (i32.const 500))

      (block $failed
        ;; The preopen named ".": every other preopen is dropped.
        (call $get-directories (i32.const 0))
        (local.set $list (i32.load (i32.const 0)))
        (local.set $count (i32.load (i32.const 4)))
        (block $listed
          (loop $next
            (br_if $listed (i32.eq (local.get $i) (local.get $count)))
            (local.set $entry (i32.add (local.get $list)
              (i32.mul (local.get $i) (i32.const 12))))
            (block $kept
              ;; The first entry whose name is the one byte '.' is kept.
              (if (i32.and (i32.eqz (local.get $found))
                    (i32.eq (i32.load offset=8 (local.get $entry)) (i32.const 1)))
                (then
                  (if (i32.eq (i32.const 46)
                        (i32.load8_u (i32.load offset=4 (local.get $entry))))
                    (then
                      (local.set $found (i32.const 1))
                      (local.set $dir (i32.load (local.get $entry)))
                      (br $kept)))))
              (call $drop-descriptor (i32.load (local.get $entry))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (if (i32.eqz (local.get $found))
          (then
            (local.set $body-ptr (i32.const 144))
            (local.set $body-len (i32.const 11))
            (br $failed)))

        ;; f.txt, for reading, without following a symlink at its end.
        (call $open-at (local.get $dir)
          (i32.const 0)                         ;; path-flags {}
          (i32.const 128) (i32.const 5)         ;; "f.txt"
          (i32.const 0)                         ;; open-flags {}
          (i32.const 1)                         ;; descriptor-flags {read}
          (i32.const 0))
        (call $drop-descriptor (local.get $dir))
        (if (i32.load8_u (i32.const 0))
          (then
            (local.set $body-ptr (i32.const 160))
            (local.set $body-len (i32.const 12))
            (br $failed)))
        (local.set $file (i32.load (i32.const 4)))

        ;; Its bytes, 4 KiB at a time (at most what one
        ;; `blocking-write-and-flush` takes), until the empty read at its
        ;; end: at most 16 reads that return bytes.
        (block $read-all
          (loop $more
            (if (i32.eq (local.get $chunks) (i32.const 16))
              (then
                (call $drop-descriptor (local.get $file))
                (local.set $body-ptr (i32.const 192))
                (local.set $body-len (i32.const 10))
                (br $failed)))
            (call $read (local.get $file) (i64.const 4096) (local.get $offset)
              (i32.const 0))
            (if (i32.load8_u (i32.const 0))
              (then
                (call $drop-descriptor (local.get $file))
                (local.set $body-ptr (i32.const 176))
                (local.set $body-len (i32.const 12))
                (br $failed)))
            (local.set $len (i32.load (i32.const 8)))
            (if (local.get $len)
              (then
                (i32.store (i32.add (i32.const 256)
                  (i32.mul (local.get $chunks) (i32.const 8)))
                  (i32.load (i32.const 4)))
                (i32.store (i32.add (i32.const 260)
                  (i32.mul (local.get $chunks) (i32.const 8)))
                  (local.get $len))
                (local.set $chunks (i32.add (local.get $chunks) (i32.const 1)))
                (local.set $offset (i64.add (local.get $offset)
                  (i64.extend_i32_u (local.get $len))))))
            (br_if $read-all (i32.load8_u (i32.const 12)))
            ;; An empty read that is not the end would loop for ever.
            (br_if $read-all (i32.eqz (local.get $len)))
            (br $more)))
        (call $drop-descriptor (local.get $file))
        (local.set $status (i32.const 200)))

      ;; The response: headers, status, body, handed to the host.
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

      ;; The body: the file's chunks, or the failure's message as one chunk.
      (if (i32.ne (local.get $status) (i32.const 200))
        (then
          (i32.store (i32.const 256) (local.get $body-ptr))
          (i32.store (i32.const 260) (local.get $body-len))
          (local.set $chunks (i32.const 1))))
      (call $outgoing-body-write (local.get $body) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then unreachable))
      (local.set $stream (i32.load (i32.const 4)))
      (local.set $i (i32.const 0))
      (block $written
        (loop $chunk
          (br_if $written (i32.eq (local.get $i) (local.get $chunks)))
          (local.set $entry (i32.add (i32.const 256)
            (i32.mul (local.get $i) (i32.const 8))))
          (call $blocking-write-and-flush (local.get $stream)
            (i32.load (local.get $entry)) (i32.load offset=4 (local.get $entry))
            (i32.const 0))
          ;; The client has gone: drop the error, if any, and stop.
          (if (i32.load8_u (i32.const 0))
            (then
              (if (i32.eqz (i32.load8_u (i32.const 4)))
                (then (call $drop-error (i32.load (i32.const 8)))))
              (br $written)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $chunk)))
      (call $drop-output-stream (local.get $stream))
      (call $outgoing-body-finish (local.get $body)
        (i32.const 0) (i32.const 0)           ;; none
        (i32.const 0))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "blocking-write-and-flush" (func $blocking-write-and-flush))
      (export "get-directories" (func $get-directories))
      (export "open-at" (func $open-at))
      (export "read" (func $read))
      (export "fields-from-list" (func $fields-from-list))
      (export "new-outgoing-response" (func $new-outgoing-response))
      (export "set-status-code" (func $set-status-code))
      (export "outgoing-response-body" (func $outgoing-response-body))
      (export "response-outparam-set" (func $response-outparam-set))
      (export "outgoing-body-write" (func $outgoing-body-write))
      (export "outgoing-body-finish" (func $outgoing-body-finish))
      (export "drop-descriptor" (func $drop-descriptor))
      (export "drop-output-stream" (func $drop-output-stream))
      (export "drop-error" (func $drop-error))
      (export "drop-incoming-request" (func $drop-incoming-request))))))

  ;; --- Export --------------------------------------------------------------
  (func $handle
    (param "request" (own $incoming-request))
    (param "response-out" (own $response-outparam))
    (canon lift (core func $main "handle")))
  (instance $incoming-handler
    (export "incoming-request" (type $incoming-request))
    (export "response-outparam" (type $response-outparam))
    (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $incoming-handler)))
