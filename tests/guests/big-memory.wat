;; Asks for 64 MiB of initial memory, more than a 16Mi cap allows.
(module
  (memory (export "memory") 1024)
  (func (export "_start")))
