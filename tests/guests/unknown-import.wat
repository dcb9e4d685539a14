;; Imports a function no host provides: linking must fail and name it.
(module
  (import "env" "launch_missiles" (func $f))
  (func (export "_start") (call $f)))
