"""Writes a one-layer image as one tar that is an OCI image layout and a
docker-archive at once (the layout crates/testkit/src/archive.rs writes):
`podman load` reads the OCI half, Docker 20.10's `docker load` the
docker-archive half. No registry, no network.

Usage: image-archive.py OUT.tar NAME [--os OS] [--arch ARCH]
         [--entrypoint ARG]... [--cmd ARG]... SRC:DEST [SRC:DEST ...]
Each SRC file is put at DEST in the layer, mode 0755, with its parent
folders. NAME is a full reference (localhost/bench/hello:1).
"""
import argparse
import hashlib
import io
import json
import tarfile


def tar_bytes(files):
    """files: [(path, bytes, mode)]; folders are added before their files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        dirs = set()
        for path, data, mode in files:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), mode
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("name")
    p.add_argument("--os", default="linux")
    p.add_argument("--arch", default="amd64")
    p.add_argument("--entrypoint", action="append", default=[])
    p.add_argument("--cmd", action="append", default=[])
    p.add_argument("files", nargs="+", metavar="SRC:DEST")
    a = p.parse_args()

    files = []
    for spec in a.files:
        src, dest = spec.split(":", 1)
        with open(src, "rb") as f:
            files.append((dest, f.read(), 0o755))
    layer = tar_bytes(files)
    config = {"architecture": a.arch, "os": a.os, "config": {},
              "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}
    if a.entrypoint:
        config["config"]["Entrypoint"] = a.entrypoint
    if a.cmd:
        config["config"]["Cmd"] = a.cmd
    config = json.dumps(config).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    }).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest(manifest), "size": len(manifest),
        "annotations": {"io.containerd.image.name": a.name,
                        "org.opencontainers.image.ref.name": a.name},
    }]}).encode()

    def blob(data):
        return "blobs/sha256/" + hashlib.sha256(data).hexdigest()

    docker = json.dumps([{"Config": blob(config), "RepoTags": [a.name],
                          "Layers": [blob(layer)]}]).encode()
    with open(a.out, "wb") as f:
        f.write(tar_bytes([
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644),
            ("index.json", index, 0o644),
            ("manifest.json", docker, 0o644),
            (blob(config), config, 0o644),
            (blob(layer), layer, 0o644),
            (blob(manifest), manifest, 0o644),
        ]))


if __name__ == "__main__":
    main()
