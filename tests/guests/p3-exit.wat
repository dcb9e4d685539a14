;; A WASI 0.3 command, written by hand: it exports `wasi:cli/run@0.3.0`,
;; whose `run` is an async function, lifted with the component model's
;; async ABI (a callback). It writes one line to stdout through a
;; `stream<u8>` it makes itself, waits until stdout has taken all of it, and
;; then ends as its first argument says:
;;
;;   (none)       returns ok          exit 0
;;   err          returns err         exit 1
;;   0 ... 255    exit-with-code(N)   exit N
;;   anything     exit-with-code(2)   exit 2
;;
;; The line is `p3-exit: ARG\n` (`p3-exit: ok\n` without an argument; an
;; argument longer than 200 bytes is cut there).
;;
;; The WASI 0.2 guests (examples/http-service/http-hello.wat) explain the
;; canonical ABI's flattening and the separate memory module; what is new
;; here is async:
;;
;; - `run` is lifted `async` with a `callback`. The core `run` returns a
;;   callback code instead of a result: 0 EXIT (done; `task.return` was
;;   called), 1 YIELD, or 2 WAIT with a waitable set's index in the bits
;;   above the low 4 (`2 | set << 4`). After a WAIT the host calls the
;;   callback with the event that happened: (event code, the waitable's
;;   index, a payload), and the callback answers with a callback code
;;   again.
;; - The result goes to the host through `task.return`, not as the core
;;   function's return value.
;; - `stream.new` returns both ends of a new stream in one i64: the
;;   readable end's index in the low 32 bits, the writable end's above.
;;   The readable end is handed to `write-via-stream`; the writable end
;;   stays here.
;; - `stream.write` and `future.read`, lowered `async`, return at once:
;;   0xffff_ffff (BLOCKED) if the other side is not ready, else
;;   `count << 4 | code` with code 0 COMPLETED, 1 DROPPED (the other end is
;;   gone), 2 CANCELLED. A BLOCKED operation ends later as an event
;;   (3 STREAM_WRITE, 4 FUTURE_READ) whose payload is that same packed
;;   value, on a waitable set the end was joined to.
;;
;; `run` is called once per instance, so the state lives in globals.
;; A step that cannot fail on a well-behaved host traps if it does.
(component $p3-exit
  ;; --- Imports -----------------------------------------------------------
  ;; As in the WASI 0.2 guests, an instance type lists only what is used,
  ;; and a named type a function mentions is exported with `eq`.

  ;; wasi:cli/environment: the arguments (argv[0] first).
  (import "wasi:cli/environment@0.3.0" (instance $environment
    (export "get-arguments" (func (result (list string))))))

  ;; wasi:cli/types: the error code stdout's future may carry.
  (import "wasi:cli/types@0.3.0" (instance $cli-types
    (type $error-code (enum "io" "illegal-byte-sequence" "pipe"))
    (export "error-code" (type (eq $error-code)))))
  (alias export $cli-types "error-code" (type $error-code))

  ;; wasi:cli/stdout: hand the host a stream; the future it returns
  ;; resolves once the stream's writable end is dropped and everything
  ;; written has reached stdout (or writing failed).
  (import "wasi:cli/stdout@0.3.0" (instance $stdout
    (alias outer $p3-exit $error-code (type $error-code))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (export "write-via-stream" (func
      (param "data" (stream u8))
      (result (future (result (error $error-code-e))))))))

  ;; wasi:cli/exit: end the instance with a code. It does not return.
  (import "wasi:cli/exit@0.3.0" (instance $exit
    (export "exit-with-code" (func (param "status-code" u8)))))

  ;; The stream and future types the built-ins below work on: the same
  ;; structure as the ones `write-via-stream` takes and returns.
  (type $bytes (stream u8))
  (type $done (future (result (error $error-code))))

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

  ;; --- Lowered imports and async built-ins --------------------------------
  ;; The imports are plain (synchronous) functions, lowered as in WASI 0.2.
  (core func $get-arguments (canon lower (func $environment "get-arguments")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $write-via-stream (canon lower
    (func $stdout "write-via-stream")))
  (core func $exit-with-code (canon lower (func $exit "exit-with-code")))
  (core func $stream-new (canon stream.new $bytes))
  (core func $stream-write (canon stream.write $bytes async (memory $mem)))
  (core func $stream-drop-writable (canon stream.drop-writable $bytes))
  (core func $future-read (canon future.read $done async (memory $mem)))
  (core func $future-drop-readable (canon future.drop-readable $done))
  (core func $waitable-set-new (canon waitable-set.new))
  (core func $waitable-set-drop (canon waitable-set.drop))
  (core func $waitable-join (canon waitable.join))
  ;; `run`'s result<_, _> is one i32: 0 ok, 1 err.
  (core func $task-return (canon task.return (result (result))))

  ;; --- The command itself --------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; (result ptr); the result is list<string>, 8 bytes: { ptr; len },
    ;; each element 8 bytes: { bytes ptr; len }.
    (import "wasi" "get-arguments" (func $get-arguments (param i32)))
    ;; (readable end) -> the future's readable end
    (import "wasi" "write-via-stream"
      (func $write-via-stream (param i32) (result i32)))
    (import "wasi" "exit-with-code" (func $exit-with-code (param i32)))
    ;; () -> writable << 32 | readable
    (import "wasi" "stream.new" (func $stream-new (result i64)))
    ;; (writable end, bytes ptr, count) -> BLOCKED or count << 4 | code
    (import "wasi" "stream.write"
      (func $stream-write (param i32 i32 i32) (result i32)))
    (import "wasi" "stream.drop-writable"
      (func $stream-drop-writable (param i32)))
    ;; (readable end, value ptr) -> BLOCKED or code. The value,
    ;; result<_, error-code>, is 2 bytes: { u8 tag; u8 error-code }.
    (import "wasi" "future.read"
      (func $future-read (param i32 i32) (result i32)))
    (import "wasi" "future.drop-readable"
      (func $future-drop-readable (param i32)))
    (import "wasi" "waitable-set.new" (func $waitable-set-new (result i32)))
    (import "wasi" "waitable-set.drop" (func $waitable-set-drop (param i32)))
    ;; (waitable, set); set 0 takes the waitable out of its set.
    (import "wasi" "waitable.join" (func $waitable-join (param i32 i32)))
    (import "wasi" "task.return" (func $task-return (param i32)))

    ;; 0..8: get-arguments' result. 16..32: the future's value.
    (data (i32.const 64) "p3-exit: ")         ;; 9 bytes
    (data (i32.const 80) "ok")                ;; 2
    (data (i32.const 96) "err")               ;; 3
    ;; 256..: the line written, at most 9 + 200 + 1 bytes.
    ;; cabi_realloc hands out memory from 4096 on.

    (global $set (mut i32) (i32.const 0))
    (global $writer (mut i32) (i32.const 0))   ;; the stream's writable end
    (global $done (mut i32) (i32.const 0))     ;; write-via-stream's future
    (global $ptr (mut i32) (i32.const 0))      ;; what is left to write
    (global $len (mut i32) (i32.const 0))
    ;; How `run` ends: -2 returns ok, -1 returns err, else exit-with-code.
    (global $ending (mut i32) (i32.const -2))

    ;; The callback codes.
    (func $exit-code (result i32) (i32.const 0))
    (func $wait (result i32)
      (i32.or (i32.const 2) (i32.shl (global.get $set) (i32.const 4))))

    ;; `wasi:cli/run.run`: no parameters; returns a callback code.
    (func (export "run") (result i32)
      (local $list i32) (local $arg i32) (local $arg-len i32)
      (local $i i32) (local $byte i32) (local $n i32) (local $ends i64)
      (local $line-len i32)

      ;; The argument and what it asks for.
      (call $get-arguments (i32.const 0))
      (local.set $arg (i32.const 80))
      (local.set $arg-len (i32.const 2))
      (if (i32.ge_u (i32.load (i32.const 4)) (i32.const 2))
        (then
          (local.set $list (i32.load (i32.const 0)))
          (local.set $arg (i32.load offset=8 (local.get $list)))
          (local.set $arg-len (i32.load offset=12 (local.get $list)))
          (global.set $ending (i32.const 2))
          (block $parsed
            ;; "err"
            (if (i32.and (i32.eq (local.get $arg-len) (i32.const 3))
                  (i32.and
                    (i32.eq (i32.load16_u (local.get $arg))
                            (i32.load16_u (i32.const 96)))
                    (i32.eq (i32.load8_u offset=2 (local.get $arg))
                            (i32.load8_u (i32.const 98)))))
              (then (global.set $ending (i32.const -1)) (br $parsed)))
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
                (then (global.set $ending (local.get $n))))))))
      (if (i32.gt_u (local.get $arg-len) (i32.const 200))
        (then (local.set $arg-len (i32.const 200))))

      ;; The line: "p3-exit: " ARG "\n".
      (memory.copy (i32.const 256) (i32.const 64) (i32.const 9))
      (memory.copy (i32.const 265) (local.get $arg) (local.get $arg-len))
      (local.set $line-len (i32.add (local.get $arg-len) (i32.const 10)))
      (i32.store8 (i32.add (i32.const 255) (local.get $line-len)) (i32.const 10))

      ;; A stream for stdout: its readable end goes to the host.
      (local.set $ends (call $stream-new))
      (global.set $writer (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
      (global.set $done (call $write-via-stream (i32.wrap_i64 (local.get $ends))))
      (global.set $set (call $waitable-set-new))
      (global.set $ptr (i32.const 256))
      (global.set $len (local.get $line-len))
      (call $write))

    ;; Writes what is left of the line until it is all written, the host
    ;; is not ready (then waits for it), or the reader is gone.
    (func $write (result i32)
      (local $r i32)
      (loop $more
        (local.set $r (call $stream-write (global.get $writer)
          (global.get $ptr) (global.get $len)))
        (if (i32.eq (local.get $r) (i32.const -1))
          (then
            (call $waitable-join (global.get $writer) (global.get $set))
            (return (call $wait))))
        (br_if $more (call $wrote (local.get $r))))
      (call $written))

    ;; Counts what a write took; true if more is left to write.
    (func $wrote (param $r i32) (result i32)
      (local $n i32)
      (local.set $n (i32.shr_u (local.get $r) (i32.const 4)))
      (global.set $ptr (i32.add (global.get $ptr) (local.get $n)))
      (global.set $len (i32.sub (global.get $len) (local.get $n)))
      ;; Only a COMPLETED write may be followed by another.
      (i32.and (i32.eqz (i32.and (local.get $r) (i32.const 0xf)))
               (i32.ne (global.get $len) (i32.const 0))))

    ;; The line is written: close the stream, then wait for stdout's
    ;; future, so the line is out before the instance ends.
    (func $written (result i32)
      (local $r i32)
      (call $waitable-join (global.get $writer) (i32.const 0))
      (call $stream-drop-writable (global.get $writer))
      (local.set $r (call $future-read (global.get $done) (i32.const 16)))
      (if (i32.eq (local.get $r) (i32.const -1))
        (then
          (call $waitable-join (global.get $done) (global.get $set))
          (return (call $wait))))
      (call $finish))

    ;; Ends `run` as the argument asked. Whether stdout failed does not
    ;; change the exit code: there is nowhere left to say it.
    (func $finish (result i32)
      (call $waitable-join (global.get $done) (i32.const 0))
      (call $future-drop-readable (global.get $done))
      (call $waitable-set-drop (global.get $set))
      (if (i32.ge_s (global.get $ending) (i32.const 0))
        (then
          (call $exit-with-code (global.get $ending))
          unreachable))
      (call $task-return (i32.eq (global.get $ending) (i32.const -1)))
      (call $exit-code))

    ;; The callback: (event code, waitable, payload) -> callback code.
    (func (export "run-callback")
      (param $event i32) (param $waitable i32) (param $payload i32)
      (result i32)
      ;; 3 STREAM_WRITE: the write that was BLOCKED has ended.
      (if (i32.eq (local.get $event) (i32.const 3))
        (then
          (if (call $wrote (local.get $payload))
            (then (return (call $write))))
          (return (call $written))))
      ;; 4 FUTURE_READ: stdout has everything.
      (if (i32.eq (local.get $event) (i32.const 4))
        (then (return (call $finish))))
      ;; Nothing else is waited for.
      (call $wait)))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "get-arguments" (func $get-arguments))
      (export "write-via-stream" (func $write-via-stream))
      (export "exit-with-code" (func $exit-with-code))
      (export "stream.new" (func $stream-new))
      (export "stream.write" (func $stream-write))
      (export "stream.drop-writable" (func $stream-drop-writable))
      (export "future.read" (func $future-read))
      (export "future.drop-readable" (func $future-drop-readable))
      (export "waitable-set.new" (func $waitable-set-new))
      (export "waitable-set.drop" (func $waitable-set-drop))
      (export "waitable.join" (func $waitable-join))
      (export "task.return" (func $task-return))))))
  (alias core export $main "run-callback" (core func $run-callback))

  ;; --- Export --------------------------------------------------------------
  (type $run-type (func async (result (result))))
  (func $run (type $run-type)
    (canon lift (core func $main "run") async (callback $run-callback)))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $run-instance)))
