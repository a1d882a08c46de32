"""How much one inference request may ask for: tensors, elements, dimensions (`TensorLimits`).

The decoders (`wire.oip_json`, `wire.plain_form`, `wire.oip_grpc`) take limits and check each tensor's
shape claim here before they build its array, so a request that claims more than the limits allow is
refused before anything is allocated for it, with one error (`LimitError`) naming the limit and the
value. The checks multiply out shapes; they never walk the data, so they cost O(number of tensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wire.datatypes import ShapeTooLarge, TensorError, element_count


class LimitError(TensorError):
    """A request asks for more than the limits allow; the message names the limit and the value."""


@dataclass(frozen=True, slots=True)
class TensorLimits:
    max_tensors: int = 256
    """Inputs and outputs asked for, together, in one request."""
    max_elements: int = 64 * 1024 * 1024
    """Elements of all the inputs of one request together."""
    max_rank: int = 32
    """Dimensions of one tensor; JSON data may nest no deeper."""

    def check_count(self, count: int) -> None:
        """Raise LimitError if a request of `count` tensors (inputs and outputs asked for) is too many."""
        if count > self.max_tensors:
            raise LimitError(
                f"the request has {count} tensors (inputs and outputs asked for); at most "
                f"{self.max_tensors} are accepted (max_tensors)"
            )

    def add(self, name: str, shape: Sequence[int], total: int) -> int:
        """`total` (the elements of the request's tensors so far) plus those of tensor `name`.

        Raise LimitError if the shape has too many dimensions, or claims more elements than the limit
        allows, alone or with `total`; a zero dimension does not hide the others (a shape [0, 2**60] is
        refused: numpy could not build it). TensorError for a negative dimension.
        """
        if len(shape) > self.max_rank:
            raise LimitError(
                f"tensor '{name}': shape has {len(shape)} dimensions; at most {self.max_rank} are accepted "
                "(max_rank)"
            )
        try:
            count = element_count(shape, name, self.max_elements)
        except ShapeTooLarge:
            count = self.max_elements + 1
        if total + count > self.max_elements:
            raise LimitError(
                f"tensor '{name}': shape {_shown(shape)} brings the request to more than "
                f"{self.max_elements} elements, the most accepted (max_elements)"
            )
        return total + count


def _shown(shape: Sequence[int]) -> str:
    text = str(list(shape))
    return text if len(text) <= 200 else text[:200] + "...]"
