;; A WASI 0.2 command component, written by hand, that is a tiny TCP server:
;; it creates an IPv4 socket, binds it to 0.0.0.0 on a port, listens, and
;; prints one line to stdout with the port it listens on:
;;
;;   listening on 0.0.0.0:8080
;;
;; then serves forever: each connection it accepts gets the 16 bytes
;; `hello from wasm\n` and is closed.
;;
;; The port is the first argument (argument 0 is the program name), in
;; decimal from 0 to 65535; without one it is 8080. Port 0 asks for any free
;; port, and the line shows the one the host picked.
;;
;; A step that fails prints one line naming it, with its
;; `wasi:sockets/network.error-code` as a number (1 is `access-denied`):
;;
;;   create-tcp-socket failed: error-code 1
;;
;; and `run` returns err (exit code 1); a bad port argument prints
;; `parse-port failed: ...` the same way. A connection that fails while its
;; greeting is written only loses its greeting: the server goes on.
;; The interface versions are the ones wasmtime-wasi 48 declares.
(component $tcp-hello
  ;; --- Imports -----------------------------------------------------------
  ;; Each import lists only what the server uses. Named types (resources,
  ;; enums, records, variants) that a function signature mentions must be
  ;; exported by the instance type, so they are re-exported with `eq` from
  ;; the instance that defines them, as `use` does in WIT.

  ;; wasi:io/error, only for its `error` resource, which `stream-error` holds.
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))

  ;; wasi:io/poll: waiting for the listening socket to have a connection.
  (import "wasi:io/poll@0.2.12" (instance $poll
    (export "pollable" (type $pollable (sub resource)))
    (export "[method]pollable.block" (func
      (param "self" (borrow $pollable))))))
  (alias export $poll "pollable" (type $pollable))

  ;; wasi:io/streams: the two stream resources (a connection has one of
  ;; each) and writing to an output stream.
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer $tcp-hello $error (type $error))
    (export "error" (type $error-e (eq $error)))
    (export "input-stream" (type $input-stream (sub resource)))
    (export "output-stream" (type $output-stream (sub resource)))
    (type $stream-error (variant
      (case "last-operation-failed" (own $error-e))
      (case "closed")))
    (export "stream-error" (type $stream-error-e (eq $stream-error)))
    (export "[method]output-stream.blocking-write-and-flush" (func
      (param "self" (borrow $output-stream))
      (param "contents" (list u8))
      (result (result (error $stream-error-e)))))))
  (alias export $streams "input-stream" (type $input-stream))
  (alias export $streams "output-stream" (type $output-stream))

  ;; wasi:cli/stdout: the guest's stdout as an output stream.
  (import "wasi:cli/stdout@0.2.12" (instance $stdout
    (alias outer $tcp-hello $output-stream (type $output-stream))
    (export "output-stream" (type $output-stream-e (eq $output-stream)))
    (export "get-stdout" (func (result (own $output-stream-e))))))

  ;; wasi:cli/environment: the command-line arguments, for the port.
  (import "wasi:cli/environment@0.2.12" (instance $environment
    (export "get-arguments" (func (result (list string))))))

  ;; wasi:sockets/network: the network capability and the socket types.
  (import "wasi:sockets/network@0.2.12" (instance $network
    (export "network" (type (sub resource)))
    (type $error-code (enum
      "unknown" "access-denied" "not-supported" "invalid-argument"
      "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress"
      "would-block" "invalid-state" "new-socket-limit"
      "address-not-bindable" "address-in-use" "remote-unreachable"
      "connection-refused" "connection-reset" "connection-aborted"
      "datagram-too-large" "name-unresolvable"
      "temporary-resolver-failure" "permanent-resolver-failure"))
    (export "error-code" (type (eq $error-code)))
    (type $ip-address-family (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type (eq $ip-address-family)))
    (type $ipv4-socket-address (record
      (field "port" u16)
      (field "address" (tuple u8 u8 u8 u8))))
    (export "ipv4-socket-address" (type $ipv4-socket-address-e
      (eq $ipv4-socket-address)))
    (type $ipv6-socket-address (record
      (field "port" u16)
      (field "flow-info" u32)
      (field "address" (tuple u16 u16 u16 u16 u16 u16 u16 u16))
      (field "scope-id" u32)))
    (export "ipv6-socket-address" (type $ipv6-socket-address-e
      (eq $ipv6-socket-address)))
    (type $ip-socket-address (variant
      (case "ipv4" $ipv4-socket-address-e)
      (case "ipv6" $ipv6-socket-address-e)))
    (export "ip-socket-address" (type (eq $ip-socket-address)))))
  (alias export $network "network" (type $network-t))
  (alias export $network "error-code" (type $error-code))
  (alias export $network "ip-address-family" (type $ip-address-family))
  (alias export $network "ip-socket-address" (type $ip-socket-address))

  ;; wasi:sockets/instance-network: the network handle the host grants.
  (import "wasi:sockets/instance-network@0.2.12" (instance $instance-network
    (alias outer $tcp-hello $network-t (type $network))
    (export "network" (type $network-e (eq $network)))
    (export "instance-network" (func (result (own $network-e))))))

  ;; wasi:sockets/tcp: the socket resource and the seven methods used.
  (import "wasi:sockets/tcp@0.2.12" (instance $tcp
    (alias outer $tcp-hello $input-stream (type $input-stream))
    (export "input-stream" (type $input-stream-e (eq $input-stream)))
    (alias outer $tcp-hello $output-stream (type $output-stream))
    (export "output-stream" (type $output-stream-e (eq $output-stream)))
    (alias outer $tcp-hello $pollable (type $pollable))
    (export "pollable" (type $pollable-e (eq $pollable)))
    (alias outer $tcp-hello $network-t (type $network))
    (export "network" (type $network-e (eq $network)))
    (alias outer $tcp-hello $error-code (type $error-code))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (alias outer $tcp-hello $ip-socket-address (type $ip-socket-address))
    (export "ip-socket-address" (type $ip-socket-address-e
      (eq $ip-socket-address)))
    (export "tcp-socket" (type $tcp-socket (sub resource)))
    (export "[method]tcp-socket.start-bind" (func
      (param "self" (borrow $tcp-socket))
      (param "network" (borrow $network-e))
      (param "local-address" $ip-socket-address-e)
      (result (result (error $error-code-e)))))
    (export "[method]tcp-socket.finish-bind" (func
      (param "self" (borrow $tcp-socket))
      (result (result (error $error-code-e)))))
    (export "[method]tcp-socket.start-listen" (func
      (param "self" (borrow $tcp-socket))
      (result (result (error $error-code-e)))))
    (export "[method]tcp-socket.finish-listen" (func
      (param "self" (borrow $tcp-socket))
      (result (result (error $error-code-e)))))
    (export "[method]tcp-socket.local-address" (func
      (param "self" (borrow $tcp-socket))
      (result (result $ip-socket-address-e (error $error-code-e)))))
    (export "[method]tcp-socket.accept" (func
      (param "self" (borrow $tcp-socket))
      (result (result
        (tuple (own $tcp-socket) (own $input-stream-e) (own $output-stream-e))
        (error $error-code-e)))))
    (export "[method]tcp-socket.subscribe" (func
      (param "self" (borrow $tcp-socket))
      (result (own $pollable-e))))))
  (alias export $tcp "tcp-socket" (type $tcp-socket))

  ;; wasi:sockets/tcp-create-socket: making a new TCP socket.
  (import "wasi:sockets/tcp-create-socket@0.2.12" (instance $tcp-create-socket
    (alias outer $tcp-hello $error-code (type $error-code))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (alias outer $tcp-hello $ip-address-family (type $ip-address-family))
    (export "ip-address-family" (type $ip-address-family-e
      (eq $ip-address-family)))
    (alias outer $tcp-hello $tcp-socket (type $tcp-socket))
    (export "tcp-socket" (type $tcp-socket-e (eq $tcp-socket)))
    (export "create-tcp-socket" (func
      (param "address-family" $ip-address-family-e)
      (result (result (own $tcp-socket-e) (error $error-code-e)))))))

  ;; --- Memory and allocator ----------------------------------------------
  ;; The lowered imports below need a linear memory (for the bytes written
  ;; and for results returned through a pointer) before the main module,
  ;; which imports them, exists; so the memory lives in its own module.
  ;; `get-arguments` returns a list of strings, which the host copies into
  ;; that memory through `cabi_realloc`: a bump allocator in the same module,
  ;; above the first 4 KiB, which hold the main module's data. Nothing is
  ;; ever freed; the arguments are read once.
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
  ;; Core signatures follow the canonical ABI's flattening: handles, enums,
  ;; bools and u8/u16 are i32; a result with more than one flat value is
  ;; written to a pointer passed as the last argument.
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $blocking-write-and-flush (canon lower
    (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
  (core func $get-arguments (canon lower
    (func $environment "get-arguments") (memory $mem) (realloc $realloc)
    string-encoding=utf8))
  (core func $instance-network (canon lower
    (func $instance-network "instance-network")))
  (core func $create-tcp-socket (canon lower
    (func $tcp-create-socket "create-tcp-socket") (memory $mem)))
  (core func $start-bind (canon lower
    (func $tcp "[method]tcp-socket.start-bind") (memory $mem)))
  (core func $finish-bind (canon lower
    (func $tcp "[method]tcp-socket.finish-bind") (memory $mem)))
  (core func $start-listen (canon lower
    (func $tcp "[method]tcp-socket.start-listen") (memory $mem)))
  (core func $finish-listen (canon lower
    (func $tcp "[method]tcp-socket.finish-listen") (memory $mem)))
  (core func $local-address (canon lower
    (func $tcp "[method]tcp-socket.local-address") (memory $mem)))
  (core func $accept (canon lower
    (func $tcp "[method]tcp-socket.accept") (memory $mem)))
  (core func $subscribe (canon lower
    (func $tcp "[method]tcp-socket.subscribe")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $drop-tcp-socket (canon resource.drop $tcp-socket))
  (core func $drop-input-stream (canon resource.drop $input-stream))
  (core func $drop-output-stream (canon resource.drop $output-stream))
  (core func $drop-error (canon resource.drop $error))

  ;; --- The server itself ---------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; () -> own<output-stream>
    (import "wasi" "get-stdout" (func $get-stdout (result i32)))
    ;; (self, contents.ptr, contents.len, result ptr); the result is
    ;; { u8 tag; stream-error at offset 4: { u8 case; own<error> at 8 } }
    (import "wasi" "blocking-write-and-flush"
      (func $blocking-write-and-flush (param i32 i32 i32 i32)))
    ;; (result ptr); the result is { list ptr; list len }, each element a
    ;; { string ptr; string len } of 8 bytes, all allocated by cabi_realloc
    (import "wasi" "get-arguments" (func $get-arguments (param i32)))
    ;; () -> own<network>
    (import "wasi" "instance-network" (func $instance-network (result i32)))
    ;; (address-family, result ptr); the result is
    ;; { u8 tag; u32 socket handle or u8 error-code at offset 4 }
    (import "wasi" "create-tcp-socket"
      (func $create-tcp-socket (param i32 i32)))
    ;; (self, network, local-address as 12 flat values: the case (0 for
    ;; ipv4), port, 4 address bytes, then 6 zeros to fill the ipv6 case's
    ;; 11 values, result ptr); the result is { u8 tag; u8 error-code }
    (import "wasi" "start-bind" (func $start-bind
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    ;; (self, result ptr), the same result as `start-bind`
    (import "wasi" "finish-bind" (func $finish-bind (param i32 i32)))
    (import "wasi" "start-listen" (func $start-listen (param i32 i32)))
    (import "wasi" "finish-listen" (func $finish-listen (param i32 i32)))
    ;; (self, result ptr); the result is { u8 tag; at offset 4 either a
    ;; u8 error-code or an ip-socket-address: { u8 case at 4; for ipv4,
    ;; u16 port at 8 and the 4 address bytes at 10 } }
    (import "wasi" "local-address" (func $local-address (param i32 i32)))
    ;; (self, result ptr); the result is { u8 tag; at offset 4 either a
    ;; u8 error-code or own<tcp-socket> at 4, own<input-stream> at 8 and
    ;; own<output-stream> at 12 }
    (import "wasi" "accept" (func $accept (param i32 i32)))
    ;; (self) -> own<pollable>
    (import "wasi" "subscribe" (func $subscribe (param i32) (result i32)))
    ;; (self): returns once the pollable is ready
    (import "wasi" "block" (func $block (param i32)))
    (import "wasi" "drop-tcp-socket" (func $drop-tcp-socket (param i32)))
    (import "wasi" "drop-input-stream" (func $drop-input-stream (param i32)))
    (import "wasi" "drop-output-stream"
      (func $drop-output-stream (param i32)))
    (import "wasi" "drop-error" (func $drop-error (param i32)))

    ;; 0..48: results returned through a pointer (local-address's ipv6
    ;; case, the largest, takes 36 bytes); 48..58: the digits of a number;
    ;; 60: "\n". cabi_realloc hands out memory from 4096 on.
    (data (i32.const 60) "\n")
    (data (i32.const 64) "create-tcp-socket failed: error-code ") ;; 37 bytes
    (data (i32.const 112) "bind failed: error-code ")         ;; 24
    (data (i32.const 144) "listen failed: error-code ")       ;; 26
    (data (i32.const 176) "local-address failed: error-code ") ;; 33
    (data (i32.const 224) "accept failed: error-code ")       ;; 26
    (data (i32.const 256) "listening on 0.0.0.0:")            ;; 21
    (data (i32.const 288) "hello from wasm\n")                ;; 16
    (data (i32.const 320)                                     ;; 70
      "parse-port failed: the first argument is not a number from 0 to 65535\n")

    (global $stdout (mut i32) (i32.const 0))

    ;; Writes memory[ptr..ptr+len] to stdout (a failed write is ignored:
    ;; there is nowhere to report it).
    (func $print (param $ptr i32) (param $len i32)
      (call $blocking-write-and-flush
        (global.get $stdout) (local.get $ptr) (local.get $len) (i32.const 0)))

    ;; Prints `n` in decimal, then a newline.
    (func $print-line-u32 (param $n i32)
      (local $at i32)
      ;; The digits are written backwards, from 58 down.
      (local.set $at (i32.const 58))
      (loop $digits
        (local.set $at (i32.sub (local.get $at) (i32.const 1)))
        (i32.store8 (local.get $at)
          (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
        (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
        (br_if $digits (local.get $n)))
      (call $print (local.get $at) (i32.sub (i32.const 58) (local.get $at)))
      (call $print (i32.const 60) (i32.const 1)))

    ;; Prints the failure message and the error code, and returns 1: `run`'s
    ;; err.
    (func $failed (param $ptr i32) (param $len i32) (param $code i32)
      (result i32)
      (call $print (local.get $ptr) (local.get $len))
      (call $print-line-u32 (local.get $code))
      (i32.const 1))

    ;; The port in memory[ptr..ptr+len] as decimal ASCII: 1 to 5 digits with
    ;; a value up to 65535; -1 for anything else.
    (func $parse-port (param $ptr i32) (param $len i32) (result i32)
      (local $value i32) (local $digit i32)
      (if (i32.or (i32.eqz (local.get $len)) (i32.gt_u (local.get $len) (i32.const 5)))
        (then (return (i32.const -1))))
      (loop $digits
        (local.set $digit
          (i32.sub (i32.load8_u (local.get $ptr)) (i32.const 48)))
        ;; Unsigned, so a byte below '0' wraps around and fails too.
        (if (i32.gt_u (local.get $digit) (i32.const 9))
          (then (return (i32.const -1))))
        (local.set $value (i32.add
          (i32.mul (local.get $value) (i32.const 10)) (local.get $digit)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br_if $digits (local.get $len)))
      (if (i32.gt_u (local.get $value) (i32.const 65535))
        (then (return (i32.const -1))))
      (local.get $value))

    ;; `wasi:cli/run.run`: returns 1 (err) when a step fails; serves
    ;; forever otherwise.
    (func (export "run") (result i32)
      (local $network i32) (local $socket i32) (local $port i32)
      (local $args i32) (local $ready i32) (local $code i32)
      (local $conn i32) (local $in i32) (local $out i32)
      (global.set $stdout (call $get-stdout))

      ;; The port: argument 1 if there is one, else 8080.
      (local.set $port (i32.const 8080))
      (call $get-arguments (i32.const 0))
      (if (i32.ge_u (i32.load (i32.const 4)) (i32.const 2))
        (then
          (local.set $args (i32.load (i32.const 0)))
          (local.set $port (call $parse-port
            (i32.load offset=8 (local.get $args))      ;; args[1].ptr
            (i32.load offset=12 (local.get $args))))   ;; args[1].len
          (if (i32.eq (local.get $port) (i32.const -1))
            (then
              (call $print (i32.const 320) (i32.const 70))
              (return (i32.const 1))))))

      (local.set $network (call $instance-network))

      ;; create-tcp-socket(ipv4)
      (call $create-tcp-socket (i32.const 0) (i32.const 0))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 64) (i32.const 37)
          (i32.load8_u (i32.const 4))))))
      (local.set $socket (i32.load (i32.const 4)))

      ;; start-bind(network, ipv4 0.0.0.0:port), then finish-bind
      (call $start-bind (local.get $socket) (local.get $network)
        (i32.const 0)                         ;; case ipv4
        (local.get $port)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0))                        ;; result ptr
      (if (i32.eqz (i32.load8_u (i32.const 0)))
        (then (call $finish-bind (local.get $socket) (i32.const 0))))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 112) (i32.const 24)
          (i32.load8_u (i32.const 1))))))

      ;; start-listen, then finish-listen
      (call $start-listen (local.get $socket) (i32.const 0))
      (if (i32.eqz (i32.load8_u (i32.const 0)))
        (then (call $finish-listen (local.get $socket) (i32.const 0))))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 144) (i32.const 26)
          (i32.load8_u (i32.const 1))))))

      ;; The port actually bound, which differs from the one asked for only
      ;; when that was 0. The socket is ipv4, so the address is too.
      (call $local-address (local.get $socket) (i32.const 0))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 176) (i32.const 33)
          (i32.load8_u (i32.const 4))))))
      (local.set $port (i32.load16_u (i32.const 8)))
      (call $print (i32.const 256) (i32.const 21))
      (call $print-line-u32 (local.get $port))

      ;; One pollable for the socket's whole life: it is ready whenever
      ;; `accept` has something to return.
      (local.set $ready (call $subscribe (local.get $socket)))

      (loop $serve
        (call $accept (local.get $socket) (i32.const 0))
        (if (i32.load8_u (i32.const 0))
          (then
            (local.set $code (i32.load8_u (i32.const 4)))
            ;; would-block: no connection yet, so wait for one.
            (if (i32.eq (local.get $code) (i32.const 8))
              (then
                (call $block (local.get $ready))
                (br $serve)))
            ;; connection-aborted: the client gave up while its connection
            ;; was pending (Linux reports a pending reset this way too);
            ;; nothing is wrong with the listener.
            (br_if $serve (i32.eq (local.get $code) (i32.const 16)))
            (return (call $failed (i32.const 224) (i32.const 26)
              (local.get $code)))))
        (local.set $conn (i32.load (i32.const 4)))
        (local.set $in (i32.load (i32.const 8)))
        (local.set $out (i32.load (i32.const 12)))

        ;; The greeting. If the client has gone, the write fails; that is
        ;; the client's loss, not the server's, so only the error resource
        ;; that `last-operation-failed` carries is dropped.
        (call $blocking-write-and-flush
          (local.get $out) (i32.const 288) (i32.const 16) (i32.const 16))
        (if (i32.load8_u (i32.const 16))
          (then
            (if (i32.eqz (i32.load8_u (i32.const 20)))
              (then (call $drop-error (i32.load (i32.const 24)))))))

        ;; The streams are children of the connection's socket, so they go
        ;; first; dropping the socket closes the connection.
        (call $drop-input-stream (local.get $in))
        (call $drop-output-stream (local.get $out))
        (call $drop-tcp-socket (local.get $conn))
        (br $serve))
      unreachable))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "get-stdout" (func $get-stdout))
      (export "blocking-write-and-flush" (func $blocking-write-and-flush))
      (export "get-arguments" (func $get-arguments))
      (export "instance-network" (func $instance-network))
      (export "create-tcp-socket" (func $create-tcp-socket))
      (export "start-bind" (func $start-bind))
      (export "finish-bind" (func $finish-bind))
      (export "start-listen" (func $start-listen))
      (export "finish-listen" (func $finish-listen))
      (export "local-address" (func $local-address))
      (export "accept" (func $accept))
      (export "subscribe" (func $subscribe))
      (export "block" (func $block))
      (export "drop-tcp-socket" (func $drop-tcp-socket))
      (export "drop-input-stream" (func $drop-input-stream))
      (export "drop-output-stream" (func $drop-output-stream))
      (export "drop-error" (func $drop-error))))))

  ;; --- Export --------------------------------------------------------------
  ;; `wasi:cli/run.run: func() -> result`; a result without payloads
  ;; flattens to one i32, so no memory or post-return is needed.
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.12" (instance $run)))
