;; Four linear memories of one page each; `_start` grows each by 512 pages
;; (32 MiB) and exits with the number of grows that succeeded. Under a
;; 64 MiB limit that counts every memory against one budget, only the
;; first fits (exit 1); a limit per memory would let all four (exit 4).
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory $m0 1)
  (memory $m1 1)
  (memory $m2 1)
  (memory $m3 1)
  (export "memory" (memory $m0))
  (func $ok (param i32) (result i32)
    (i32.ne (local.get 0) (i32.const -1)))
  (func (export "_start")
    (call $exit
      (i32.add
        (i32.add
          (call $ok (memory.grow $m0 (i32.const 512)))
          (call $ok (memory.grow $m1 (i32.const 512))))
        (i32.add
          (call $ok (memory.grow $m2 (i32.const 512)))
          (call $ok (memory.grow $m3 (i32.const 512))))))))
