;; Grows a funcref table by 16M elements (128 MiB of host memory at 8 bytes
;; an element) and exits 0 if that worked, 1 if `table.grow` said -1. A
;; memory limit that also counts tables refuses it.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "_start")
    (call $exit
      (i32.eq
        (table.grow $t (ref.null func) (i32.const 16777216))
        (i32.const -1)))))
