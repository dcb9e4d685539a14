;; A WASI 0.2 command component, written by hand, that tries to use TCP:
;; it creates an IPv4 socket, binds it to 127.0.0.1 port 0 and listens on
;; it, printing one line per step to stdout:
;;
;;   create-tcp-socket ok          bind ok          listen ok
;;
;; and stopping at the first step that fails, with its
;; `wasi:sockets/network.error-code` as a number (1 is `access-denied`):
;;
;;   bind failed: error-code 1
;;
;; `run` returns ok when every step succeeded and err (exit code 1) when one
;; failed. The interface versions are the ones wasmtime-wasi 48 declares.
(component $net-probe
  ;; --- Imports -----------------------------------------------------------
  ;; Each import lists only what the probe uses. Named types (resources,
  ;; enums, records, variants) that a function signature mentions must be
  ;; exported by the instance type, so they are re-exported with `eq` from
  ;; the instance that defines them, as `use` does in WIT.

  ;; wasi:io/error, only for its `error` resource, which `stream-error` holds.
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))

  ;; wasi:io/streams: writing to an output stream.
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer $net-probe $error (type $error))
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

  ;; wasi:cli/stdout: the guest's stdout as an output stream.
  (import "wasi:cli/stdout@0.2.12" (instance $stdout
    (alias outer $net-probe $output-stream (type $output-stream))
    (export "output-stream" (type $output-stream-e (eq $output-stream)))
    (export "get-stdout" (func (result (own $output-stream-e))))))

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
    (alias outer $net-probe $network-t (type $network))
    (export "network" (type $network-e (eq $network)))
    (export "instance-network" (func (result (own $network-e))))))

  ;; wasi:sockets/tcp: the socket resource and the four methods used.
  (import "wasi:sockets/tcp@0.2.12" (instance $tcp
    (alias outer $net-probe $network-t (type $network))
    (export "network" (type $network-e (eq $network)))
    (alias outer $net-probe $error-code (type $error-code))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (alias outer $net-probe $ip-socket-address (type $ip-socket-address))
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
      (result (result (error $error-code-e)))))))
  (alias export $tcp "tcp-socket" (type $tcp-socket))

  ;; wasi:sockets/tcp-create-socket: making a new TCP socket.
  (import "wasi:sockets/tcp-create-socket@0.2.12" (instance $tcp-create-socket
    (alias outer $net-probe $error-code (type $error-code))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (alias outer $net-probe $ip-address-family (type $ip-address-family))
    (export "ip-address-family" (type $ip-address-family-e
      (eq $ip-address-family)))
    (alias outer $net-probe $tcp-socket (type $tcp-socket))
    (export "tcp-socket" (type $tcp-socket-e (eq $tcp-socket)))
    (export "create-tcp-socket" (func
      (param "address-family" $ip-address-family-e)
      (result (result (own $tcp-socket-e) (error $error-code-e)))))))

  ;; --- Memory --------------------------------------------------------------
  ;; The lowered imports below need a linear memory (for the bytes written
  ;; and for results returned through a pointer) before the main module,
  ;; which imports them, exists; so the memory lives in its own module. No
  ;; `cabi_realloc` is needed: no function used returns a list or string.
  (core module $Memory (memory (export "memory") 1))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))

  ;; --- Lowered imports ---------------------------------------------------
  ;; Core signatures follow the canonical ABI's flattening: handles, enums
  ;; and u8/u16 are i32; a result with more than one flat value is written
  ;; to a pointer passed as the last argument.
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $blocking-write-and-flush (canon lower
    (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
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
  (core func $drop-tcp-socket (canon resource.drop $tcp-socket))
  (core func $drop-network (canon resource.drop $network-t))
  (core func $drop-output-stream (canon resource.drop $output-stream))

  ;; --- The probe itself ----------------------------------------------------
  (core module $Main
    (import "env" "memory" (memory 1))
    ;; () -> own<output-stream>
    (import "wasi" "get-stdout" (func $get-stdout (result i32)))
    ;; (self, contents.ptr, contents.len, result ptr)
    (import "wasi" "blocking-write-and-flush"
      (func $blocking-write-and-flush (param i32 i32 i32 i32)))
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
    (import "wasi" "drop-tcp-socket" (func $drop-tcp-socket (param i32)))
    (import "wasi" "drop-network" (func $drop-network (param i32)))
    (import "wasi" "drop-output-stream"
      (func $drop-output-stream (param i32)))

    ;; 0..8: results returned through a pointer; 32..34: a number and "\n".
    (data (i32.const 64) "create-tcp-socket ok\n")            ;; 21 bytes
    (data (i32.const 96) "create-tcp-socket failed: error-code ") ;; 37
    (data (i32.const 144) "bind ok\n")                        ;; 8
    (data (i32.const 160) "bind failed: error-code ")         ;; 24
    (data (i32.const 192) "listen ok\n")                      ;; 10
    (data (i32.const 224) "listen failed: error-code ")       ;; 26

    (global $stdout (mut i32) (i32.const 0))

    ;; Writes memory[ptr..ptr+len] to stdout (a failed write is ignored:
    ;; there is nowhere to report it).
    (func $print (param $ptr i32) (param $len i32)
      (call $blocking-write-and-flush
        (global.get $stdout) (local.get $ptr) (local.get $len) (i32.const 0)))

    ;; Prints the failure message, the error code (0..20) in decimal and a
    ;; newline, and returns 1: `run`'s err.
    (func $failed (param $ptr i32) (param $len i32) (param $code i32)
      (result i32)
      (call $print (local.get $ptr) (local.get $len))
      (if (i32.ge_u (local.get $code) (i32.const 10))
        (then
          (i32.store8 (i32.const 32)
            (i32.add (i32.const 48) (i32.div_u (local.get $code) (i32.const 10))))
          (call $print (i32.const 32) (i32.const 1))))
      (i32.store8 (i32.const 32)
        (i32.add (i32.const 48) (i32.rem_u (local.get $code) (i32.const 10))))
      (i32.store8 (i32.const 33) (i32.const 10))
      (call $print (i32.const 32) (i32.const 2))
      (i32.const 1))

    ;; `wasi:cli/run.run`: returns 0 (ok) or 1 (err).
    (func (export "run") (result i32)
      (local $network i32) (local $socket i32)
      (global.set $stdout (call $get-stdout))
      (local.set $network (call $instance-network))

      ;; create-tcp-socket(ipv4)
      (call $create-tcp-socket (i32.const 0) (i32.const 0))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 96) (i32.const 37)
          (i32.load8_u (i32.const 4))))))
      (local.set $socket (i32.load (i32.const 4)))
      (call $print (i32.const 64) (i32.const 21))

      ;; start-bind(network, ipv4 127.0.0.1:0), then finish-bind
      (call $start-bind (local.get $socket) (local.get $network)
        (i32.const 0)                         ;; case ipv4
        (i32.const 0)                         ;; port 0: any free port
        (i32.const 127) (i32.const 0) (i32.const 0) (i32.const 1)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0))                        ;; result ptr
      (if (i32.eqz (i32.load8_u (i32.const 0)))
        (then (call $finish-bind (local.get $socket) (i32.const 0))))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 160) (i32.const 24)
          (i32.load8_u (i32.const 1))))))
      (call $print (i32.const 144) (i32.const 8))

      ;; start-listen, then finish-listen
      (call $start-listen (local.get $socket) (i32.const 0))
      (if (i32.eqz (i32.load8_u (i32.const 0)))
        (then (call $finish-listen (local.get $socket) (i32.const 0))))
      (if (i32.load8_u (i32.const 0))
        (then (return (call $failed (i32.const 224) (i32.const 26)
          (i32.load8_u (i32.const 1))))))
      (call $print (i32.const 192) (i32.const 10))

      (call $drop-tcp-socket (local.get $socket))
      (call $drop-network (local.get $network))
      (call $drop-output-stream (global.get $stdout))
      (i32.const 0)))

  (core instance $main (instantiate $Main
    (with "env" (instance $memory))
    (with "wasi" (instance
      (export "get-stdout" (func $get-stdout))
      (export "blocking-write-and-flush" (func $blocking-write-and-flush))
      (export "instance-network" (func $instance-network))
      (export "create-tcp-socket" (func $create-tcp-socket))
      (export "start-bind" (func $start-bind))
      (export "finish-bind" (func $finish-bind))
      (export "start-listen" (func $start-listen))
      (export "finish-listen" (func $finish-listen))
      (export "drop-tcp-socket" (func $drop-tcp-socket))
      (export "drop-network" (func $drop-network))
      (export "drop-output-stream" (func $drop-output-stream))))))

  ;; --- Export --------------------------------------------------------------
  ;; `wasi:cli/run.run: func() -> result`; a result without payloads
  ;; flattens to one i32, so no memory or post-return is needed.
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.12" (instance $run)))
