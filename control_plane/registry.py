"""The Docker registry's HTTP API (CNCF Distribution), as the control plane uses it: delete a version's
image and list what the registry holds, for deletion and `hydro gc`.

A manifest is deleted by digest, never by tag: `HEAD /v2/<name>/manifests/<tag>` with the manifest media
types in `Accept` answers the digest in `Docker-Content-Digest`, then `DELETE /v2/<name>/manifests/<digest>`.
The registry must allow deletes (`storage.delete.enabled: true`, as `scripts/services.sh` writes it).
Deleting a manifest frees no disk: the blobs go with the registry's own `garbage-collect` (see `GC_COMMAND`).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
GC_COMMAND = "docker-registry garbage-collect --delete-untagged <registry config.yml>"
"""How the registry reclaims the blobs of deleted manifests (`make registry-gc` runs it here)."""
_PAGE = 1000


class RegistryError(Exception):
    """The registry refused or could not be reached; the message says which image and why."""


@dataclass(frozen=True)
class Tag:
    """One tagged image in the registry."""

    repository: str
    tag: str

    def image(self, registry: str) -> str:
        return f"{registry}/{self.repository}:{self.tag}"


def split_image(image: str) -> tuple[str, str]:
    """`host:port/name:tag` -> (`name`, `tag`)."""
    _, _, rest = image.partition("/")
    name, _, tag = rest.rpartition(":")
    if not name or not tag:
        raise RegistryError(f"{image!r} is not an image of the form registry/name:tag")
    return name, tag


class Registry:
    """A client of the registry at `address` (host:port; plain HTTP unless `https`)."""

    def __init__(self, address: str, *, timeout_s: float = 10.0, https: bool = False) -> None:
        self.address = address
        scheme = "https" if https else "http"
        self._client = httpx.AsyncClient(base_url=f"{scheme}://{address}", timeout=timeout_s)

    async def close(self) -> None:
        await self._client.aclose()

    async def delete_tag(self, repository: str, tag: str) -> bool:
        """Delete the manifest `repository:tag` points to; False if the registry does not have it."""
        where = f"{self.address}/{repository}:{tag}"
        digest = await self.digest(repository, tag)
        if digest is None:
            return False
        response = await self._call("DELETE", f"/v2/{repository}/manifests/{digest}", where)
        if response.status_code == 404:
            return False
        if response.status_code != 202:
            raise RegistryError(f"the registry refused to delete {where}: {_explain(response)}")
        return True

    async def digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest of `repository:tag`, None if the registry has no such tag."""
        where = f"{self.address}/{repository}:{tag}"
        response = await self._call(
            "HEAD", f"/v2/{repository}/manifests/{tag}", where, headers={"Accept": MANIFEST_TYPES}
        )
        if response.status_code == 404:
            return None
        digest: str | None = response.headers.get("Docker-Content-Digest")
        if response.status_code != 200 or not digest:
            raise RegistryError(f"cannot resolve {where} to a digest: {_explain(response)}")
        return digest

    async def tags(self) -> list[Tag]:
        """Every tag of every repository in the registry."""
        out: list[Tag] = []
        for repository in await self._repositories():
            response = await self._call("GET", f"/v2/{repository}/tags/list", f"{self.address}/{repository}")
            if response.status_code == 404:
                continue
            if response.status_code != 200:
                raise RegistryError(f"cannot list the tags of {repository}: {_explain(response)}")
            out.extend(Tag(repository, tag) for tag in sorted(response.json().get("tags") or []))
        return out

    async def _repositories(self) -> list[str]:
        names: list[str] = []
        path: str | None = f"/v2/_catalog?n={_PAGE}"
        while path is not None:
            response = await self._call("GET", path, self.address)
            if response.status_code != 200:
                raise RegistryError(f"cannot list the registry's repositories: {_explain(response)}")
            names.extend(response.json().get("repositories") or [])
            link = response.headers.get("Link", "")
            path = link[link.index("<") + 1 : link.index(">")] if link.startswith("<") else None
        return names

    async def _call(
        self, method: str, path: str, where: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            return await self._client.request(method, path, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryError(f"cannot reach the registry {self.address} for {where}: {exc!r}") from exc


def _explain(response: httpx.Response) -> str:
    text = response.text.strip()[:300] if response.request.method != "HEAD" else ""
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")
