;; A WASI 0.2 command, written by hand: it exports `wasi:cli/run@0.2.12`,
;; whose `run` is a plain (synchronous) function. It writes one line to
;; stdout with one blocking write, and then ends as its first argument says:
;;
;;   (none)       returns ok          exit 0
;;   err          returns err         exit 1
;;   0 ... 255    exit-with-code(N)   exit N
;;   anything     exit-with-code(2)   exit 2
;;
;; The line is `p2-exit: ARG\n` (`p2-exit: ok\n` without an argument; an
;; argument longer than 200 bytes is cut there).
;;
;; It is the WASI 0.2 twin of tests/guests/p3-exit.wat: the same program,
;; kept as close to it as the two WASI versions allow, so that the cost of
;; starting a 0.2 command and a 0.3 one can be compared on equal terms. What
;; differs is only what 0.2 does differently: stdout is an `output-stream`
;; resource written with `blocking-write-and-flush`, which returns once the
;; bytes are out, instead of a `stream<u8>` and a future to wait for; so
;; there is no async ABI, no callback and no state kept between calls.
;;
;; examples/http-service/http-hello.wat explains the canonical ABI's
;; flattening and the separate memory module. The interface versions are
;; the ones wasmtime-wasi 48 declares (wasi:cli and wasi:io at 0.2.12).
;; `exit-with-code` is stable there (`@since(version = 0.2.12)`), so the
;; plain `add_to_linker` provides it, with no unstable feature turned on.
;; A step that cannot fail on a well-behaved host traps if it does.
(component $p2-exit
  ;; --- Imports -----------------------------------------------------------
  ;; As in the other guests, an instance type lists only what is used, and
  ;; a named type a function mentions is exported with `eq`.

  ;; wasi:cli/environment: the arguments (argv[0] first).
  (import "wasi:cli/environment@0.2.12" (instance $environment
    (export "get-arguments" (func (result (list string))))))

  ;; wasi:io/error, only for its `error` resource, which `stream-error`
  ;; holds.
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))

  ;; wasi:io/streams: writing to an output stream (stdout).
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer $p2-exit $error (type $error))
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

  ;; wasi:cli/stdout: the stream that is the process's stdout.
  (import "wasi:cli/stdout@0.2.12" (instance $stdout
    (alias outer $p2-exit $output-stream (type $output-stream))
    (export "output-stream" (type $output-stream-e (eq $output-stream)))
    (export "get-stdout" (func (result (own $output-stream-e))))))

  ;; wasi:cli/exit: end the instance with a code. It does not return.
  (import "wasi:cli/exit@0.2.12" (instance $exit
    (export "exit-with-code" (func (param "status-code" u8)))))

  ;; --- Memory and allocator ----------------------------------------------
  ;; `get-arguments` returns a list of strings, which the host copies into
  ;; this memory through `cabi_realloc`: a bump allocator above the first
  ;; 4 KiB, which hold the main module's data. Nothing is freed: the
  ;; instance runs once.
  (core module $Memory
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    ;; The canonical ABI's `(old-ptr, old-size, align, new-size) -> ptr`.
    ;; Out of memory traps: the ABI gives realloc no way to fail.
    (func (export "cabi_realloc")
      (param $old i32) (param $old-size i32) (param $align i32)
      (param $new-size i32) (result i32)
      (local $ptr i32) (local $end i32) (local $pages i32)
      ;; Round the next free byte up to `align` (a power of two).
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
  (core func $get-arguments (canon lower (func $environment "get-arguments")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $blocking-write-and-flush (canon lower
    (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
  (core func $exit-with-code (canon lower (func $exit "exit-with-code")))
  (core func $drop-output-stream (canon resource.drop $output-stream))
  (core func $drop-error (canon resource.drop $error))

  ;; --- The command itself --------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; (result ptr); the result is list<string>, 8 bytes: { ptr; len },
    ;; each element 8 bytes: { bytes ptr; len }.
    (import "wasi" "get-arguments" (func $get-arguments (param i32)))
    ;; () -> own<output-stream>
    (import "wasi" "get-stdout" (func $get-stdout (result i32)))
    ;; (self, contents.ptr, contents.len, result ptr); the result is
    ;; result<_, stream-error>, 12 bytes: { u8 tag; at 4 the stream-error:
    ;; { u8 case (0 last-operation-failed, 1 closed); at 8 own<error> } }
    (import "wasi" "blocking-write-and-flush"
      (func $blocking-write-and-flush (param i32 i32 i32 i32)))
    (import "wasi" "exit-with-code" (func $exit-with-code (param i32)))
    (import "wasi" "drop-output-stream"
      (func $drop-output-stream (param i32)))
    (import "wasi" "drop-error" (func $drop-error (param i32)))

    ;; 0..8: get-arguments' result. 16..28: the write's result.
    (data (i32.const 64) "p2-exit: ")         ;; 9 bytes
    (data (i32.const 80) "ok")                ;; 2
    (data (i32.const 96) "err")               ;; 3
    ;; 256..: the line written, at most 9 + 200 + 1 bytes.
    ;; cabi_realloc hands out memory from 4096 on.

    ;; `wasi:cli/run.run`: no parameters; returns result<_, _> as one i32
    ;; (0 ok, 1 err).
    (func (export "run") (result i32)
      (local $list i32) (local $arg i32) (local $arg-len i32)
      (local $i i32) (local $byte i32) (local $n i32)
      (local $line-len i32) (local $stdout i32)
      ;; How `run` ends: -2 returns ok, -1 returns err, else exit-with-code.
      (local $ending i32)
      (local.set $ending (i32.const -2))

      ;; The argument and what it asks for.
      (call $get-arguments (i32.const 0))
      (local.set $arg (i32.const 80))
      (local.set $arg-len (i32.const 2))
      (if (i32.ge_u (i32.load (i32.const 4)) (i32.const 2))
        (then
          (local.set $list (i32.load (i32.const 0)))
          (local.set $arg (i32.load offset=8 (local.get $list)))
          (local.set $arg-len (i32.load offset=12 (local.get $list)))
          (local.set $ending (i32.const 2))
          (block $parsed
            ;; "err"
            (if (i32.and (i32.eq (local.get $arg-len) (i32.const 3))
                  (i32.and
                    (i32.eq (i32.load16_u (local.get $arg))
                            (i32.load16_u (i32.const 96)))
                    (i32.eq (i32.load8_u offset=2 (local.get $arg))
                            (i32.load8_u (i32.const 98)))))
              (then (local.set $ending (i32.const -1)) (br $parsed)))
            ;; 1 to 3 decimal digits, at most 255
            (br_if $parsed (i32.eqz (local.get $arg-len)))
            (br_if $parsed (i32.gt_u (local.get $arg-len) (i32.const 3)))
            (block $not-a-number
              (loop $digit
                (local.set $byte (i32.sub
                  (i32.load8_u (i32.add (local.get $arg) (local.get $i)))
                  (i32.const 48)))
                (br_if $not-a-number (i32.gt_u (local.get $byte) (i32.const 9)))
                (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
                  (local.get $byte)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $digit (i32.lt_u (local.get $i) (local.get $arg-len))))
              (if (i32.le_u (local.get $n) (i32.const 255))
                (then (local.set $ending (local.get $n))))))))
      (if (i32.gt_u (local.get $arg-len) (i32.const 200))
        (then (local.set $arg-len (i32.const 200))))

      ;; The line: "p2-exit: " ARG "\n".
      (memory.copy (i32.const 256) (i32.const 64) (i32.const 9))
      (memory.copy (i32.const 265) (local.get $arg) (local.get $arg-len))
      (local.set $line-len (i32.add (local.get $arg-len) (i32.const 10)))
      (i32.store8 (i32.add (i32.const 255) (local.get $line-len)) (i32.const 10))

      ;; One write, which returns once stdout has the line (at most 210
      ;; bytes, well under the 4096 one such call may take). Whether it
      ;; failed does not change the exit code: there is nowhere left to say
      ;; it; only the error resource `last-operation-failed` carries is
      ;; dropped. The stream goes too, before the instance ends.
      (local.set $stdout (call $get-stdout))
      (call $blocking-write-and-flush (local.get $stdout)
        (i32.const 256) (local.get $line-len) (i32.const 16))
      (if (i32.load8_u (i32.const 16))
        (then
          (if (i32.eqz (i32.load8_u (i32.const 20)))
            (then (call $drop-error (i32.load (i32.const 24)))))))
      (call $drop-output-stream (local.get $stdout))

      ;; Ends `run` as the argument asked.
      (if (i32.ge_s (local.get $ending) (i32.const 0))
        (then
          (call $exit-with-code (local.get $ending))
          unreachable))
      (i32.eq (local.get $ending) (i32.const -1))))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "get-arguments" (func $get-arguments))
      (export "get-stdout" (func $get-stdout))
      (export "blocking-write-and-flush" (func $blocking-write-and-flush))
      (export "exit-with-code" (func $exit-with-code))
      (export "drop-output-stream" (func $drop-output-stream))
      (export "drop-error" (func $drop-error))))))

  ;; --- Export --------------------------------------------------------------
  ;; `wasi:cli/run.run: func() -> result`: nothing in, one i32 out, so no
  ;; memory or post-return is needed.
  (func $run (result (result))
    (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.12" (instance $run-instance)))
