;; The example's Job: a WASI preview 1 command in WebAssembly text that
;; prints one line and exits 0.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "job: report written, all done\n")
  (func (export "_start")
    ;; One iovec at 0: the text at 16, 30 bytes; bytes written go to 8.
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 30))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
