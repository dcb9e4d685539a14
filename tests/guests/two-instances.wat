;; A WASI 0.2 command component with two core instances, each with 40 MiB
;; of initial linear memory. Each is under a 64 MiB limit alone; together
;; they are over it, so a limit per store refuses to start it.
(component
  (core module $a (memory (export "memory") 640))
  (core module $b
    (memory (export "memory") 640)
    (func (export "run") (result i32) (i32.const 0)))
  (core instance $ia (instantiate $a))
  (core instance $ib (instantiate $b))
  (alias core export $ib "run" (core func $run-core))
  (func $run (result (result)) (canon lift (core func $run-core)))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))
