//! The allow-list: every field wasmpod honours (or knowingly ignores), by
//! path, with the shape its value must have. Walking an object's raw YAML
//! against it names the exact path of anything else, which serde's
//! `deny_unknown_fields` could not do.

use crate::yaml::Value;

use crate::load::Kind;

/// The shape a field's value must have. `null` is accepted for every shape
/// and means "absent".
#[derive(Debug)]
pub(crate) enum Shape {
    Str,
    Int,
    Bool,
    /// A port: a number or the name of a container port.
    IntOrStr,
    /// A quantity: `64Mi`, `500m`, or a bare number.
    Quantity,
    /// A mapping from strings to strings (labels, data).
    StrMap,
    /// Anything: accepted and ignored (`status`, `strategy`).
    Any,
    Obj(&'static [(&'static str, Shape)]),
    List(&'static Shape),
}

use Shape::*;

const METADATA: Shape = Obj(&[
    ("name", Str),
    ("namespace", Str),
    ("labels", StrMap),
    ("annotations", StrMap),
    ("creationTimestamp", Any),
]);

const KEY_REF: Shape = Obj(&[("name", Str), ("key", Str), ("optional", Bool)]);
const NAME_REF: Shape = Obj(&[("name", Str), ("optional", Bool)]);

const ENV_VAR: Shape = Obj(&[
    ("name", Str),
    ("value", Str),
    (
        "valueFrom",
        Obj(&[
            ("configMapKeyRef", KEY_REF),
            ("secretKeyRef", KEY_REF),
            ("fieldRef", Obj(&[("apiVersion", Str), ("fieldPath", Str)])),
        ]),
    ),
]);

const ENV_FROM: Shape = Obj(&[
    ("configMapRef", NAME_REF),
    ("secretRef", NAME_REF),
    ("prefix", Str),
]);

const RESOURCE_LIST: Shape = Obj(&[("memory", Quantity), ("cpu", Quantity)]);

const PROBE: Shape = Obj(&[
    ("httpGet", Obj(&[("path", Str), ("port", IntOrStr)])),
    ("tcpSocket", Obj(&[("port", IntOrStr)])),
    ("exec", Obj(&[("command", List(&Str))])),
    ("initialDelaySeconds", Int),
    ("periodSeconds", Int),
    ("timeoutSeconds", Int),
    ("failureThreshold", Int),
    ("successThreshold", Int),
]);

const CONTAINER: Shape = Obj(&[
    ("name", Str),
    ("image", Str),
    ("imagePullPolicy", Str),
    ("command", List(&Str)),
    ("args", List(&Str)),
    ("env", List(&ENV_VAR)),
    ("envFrom", List(&ENV_FROM)),
    ("workingDir", Str),
    (
        "volumeMounts",
        List(&Obj(&[
            ("name", Str),
            ("mountPath", Str),
            ("readOnly", Bool),
        ])),
    ),
    (
        "resources",
        Obj(&[("limits", RESOURCE_LIST), ("requests", RESOURCE_LIST)]),
    ),
    (
        "ports",
        List(&Obj(&[
            ("name", Str),
            ("containerPort", Int),
            ("protocol", Str),
        ])),
    ),
    ("livenessProbe", PROBE),
    ("readinessProbe", PROBE),
]);

const ITEMS: Shape = List(&Obj(&[("key", Str), ("path", Str), ("mode", Any)]));

const VOLUME: Shape = Obj(&[
    ("name", Str),
    ("emptyDir", Obj(&[])),
    ("hostPath", Obj(&[("path", Str), ("type", Str)])),
    (
        "configMap",
        Obj(&[
            ("name", Str),
            ("items", ITEMS),
            ("optional", Bool),
            ("defaultMode", Any),
        ]),
    ),
    (
        "secret",
        Obj(&[
            ("secretName", Str),
            ("items", ITEMS),
            ("optional", Bool),
            ("defaultMode", Any),
        ]),
    ),
]);

const POD_SPEC: Shape = Obj(&[
    ("containers", List(&CONTAINER)),
    ("volumes", List(&VOLUME)),
    ("restartPolicy", Str),
    ("terminationGracePeriodSeconds", Int),
    ("runtimeClassName", Str),
]);

const TEMPLATE: Shape = Obj(&[("metadata", METADATA), ("spec", POD_SPEC)]);

const POD: Shape = Obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    ("spec", POD_SPEC),
    ("status", Any),
]);

const DEPLOYMENT: Shape = Obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    (
        "spec",
        Obj(&[
            ("replicas", Int),
            ("selector", Obj(&[("matchLabels", StrMap)])),
            ("template", TEMPLATE),
            ("strategy", Any),
            ("revisionHistoryLimit", Int),
            ("progressDeadlineSeconds", Int),
        ]),
    ),
    ("status", Any),
]);

const JOB: Shape = Obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    (
        "spec",
        Obj(&[
            ("completions", Int),
            ("parallelism", Int),
            ("backoffLimit", Int),
            ("template", TEMPLATE),
        ]),
    ),
    ("status", Any),
]);

const CONFIG_MAP: Shape = Obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    ("data", StrMap),
    ("binaryData", StrMap),
    ("immutable", Bool),
]);

const SECRET: Shape = Obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    ("data", StrMap),
    ("stringData", StrMap),
    ("type", Str),
    ("immutable", Bool),
]);

const SERVICE: Shape = Obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", METADATA),
    (
        "spec",
        Obj(&[
            ("type", Str),
            ("selector", StrMap),
            (
                "ports",
                List(&Obj(&[
                    ("name", Str),
                    ("port", Int),
                    ("targetPort", IntOrStr),
                    ("protocol", Str),
                ])),
            ),
        ]),
    ),
    ("status", Any),
]);

pub(crate) fn shape_of(kind: Kind) -> &'static Shape {
    match kind {
        Kind::Pod => &POD,
        Kind::Deployment => &DEPLOYMENT,
        Kind::Job => &JOB,
        Kind::ConfigMap => &CONFIG_MAP,
        Kind::Secret => &SECRET,
        Kind::Service => &SERVICE,
    }
}

/// What the walk found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Paths of fields not on the allow-list.
    pub unsupported: Vec<String>,
    /// `(path, expected)` for values of the wrong shape.
    pub wrong_shape: Vec<(String, &'static str)>,
}

pub(crate) fn check(kind: Kind, value: &Value) -> Findings {
    let mut findings = Findings::default();
    walk(shape_of(kind), value, "", &mut findings);
    findings
}

fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

fn key_text(key: &Value) -> String {
    key.shown()
}

fn walk(shape: &Shape, value: &Value, path: &str, out: &mut Findings) {
    if value.is_null() {
        return;
    }
    let mut wrong = |expected| out.wrong_shape.push((path.to_string(), expected));
    match shape {
        Any => {}
        Str => {
            if !value.is_string() {
                wrong("expected a string");
            }
        }
        Int => {
            if !value.is_integer() {
                wrong("expected a whole number");
            }
        }
        Bool => {
            if !value.is_bool() {
                wrong("expected true or false");
            }
        }
        IntOrStr => {
            if !(value.is_integer() || value.is_string()) {
                wrong("expected a port number or name");
            }
        }
        Quantity => {
            if !(value.is_number() || value.is_string()) {
                wrong("expected a quantity");
            }
        }
        StrMap => match value.as_mapping() {
            None => wrong("expected a mapping of strings"),
            Some(map) => {
                for (k, v) in map {
                    let p = child(path, &key_text(k));
                    if !k.is_string() {
                        out.wrong_shape.push((p, "keys must be strings"));
                    } else if !v.is_string() {
                        out.wrong_shape.push((p, "expected a string"));
                    }
                }
            }
        },
        List(item) => match value.as_sequence() {
            None => wrong("expected a list"),
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(item, v, &format!("{path}[{i}]"), out);
                }
            }
        },
        Obj(fields) => match value.as_mapping() {
            None => wrong("expected a mapping"),
            Some(map) => {
                for (k, v) in map {
                    let name = key_text(k);
                    let p = child(path, &name);
                    match fields.iter().find(|(f, _)| *f == name) {
                        Some((_, s)) => walk(s, v, &p, out),
                        None => out.unsupported.push(p),
                    }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        let mut budget = crate::yaml::Budget::new(1000, 1000);
        let mut docs = crate::yaml::documents(s, &mut budget);
        docs.next().expect("a document").expect("yaml").1
    }

    #[test]
    fn names_exact_paths() {
        let v = yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  hostNetwork: true\n  containers:\n  - name: x\n    securityContext: {}\n    ports: [{containerPort: web}]\n",
        );
        let f = check(Kind::Pod, &v);
        assert_eq!(
            f.unsupported,
            ["spec.hostNetwork", "spec.containers[0].securityContext"]
        );
        assert_eq!(
            f.wrong_shape,
            [(
                "spec.containers[0].ports[0].containerPort".to_string(),
                "expected a whole number"
            )]
        );
    }

    #[test]
    fn odd_keys_are_quoted() {
        let v = yaml(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {app.kubernetes.io/name: 3}\n",
        );
        let f = check(Kind::ConfigMap, &v);
        assert_eq!(
            f.wrong_shape,
            [(
                "metadata.labels[\"app.kubernetes.io/name\"]".to_string(),
                "expected a string"
            )]
        );
    }
}
