"""Preprocessing of galaxy images ``(n_samples, channels, height, width)``.

Scikit-learn transformers for standardisation (with the source statistics, or of
each domain with its own), astronomical intensity stretches, resizing and
cropping, :func:`pixel_units_differ`, which tells whether two domains need
per-domain standardisation, and :func:`balance_classes`, the class-balancing
augmentation of DeepMerge II. All accept float32 or float64 arrays (any real
numbers) and return float32 arrays; none changes its input in place.
"""

from ._balance import balance_classes
from ._domain import DomainStandardizer, pixel_units_differ
from ._geometry import CenterCrop, ResizeImages
from ._standardize import ChannelStandardizer
from ._stretch import ArcsinhStretch, LogStretch

__all__ = [
    "ArcsinhStretch",
    "CenterCrop",
    "ChannelStandardizer",
    "DomainStandardizer",
    "LogStretch",
    "ResizeImages",
    "balance_classes",
    "pixel_units_differ",
]
