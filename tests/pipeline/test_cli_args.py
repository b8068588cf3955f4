from pipeline.cli import build_parser
from pipeline.cli_args import config_from_args
from pipeline.train_config import TRAIN_PRESETS, LossWeights, TrainConfig


def test_every_loss_weight_and_sampling_field_reaches_the_cli():
    parser, _ = build_parser()
    args = parser.parse_args(["train", "--losses-requested", "2", "--losses-identity-margin", "0.9", "--delta-max-attrs", "1",
                              "--critic-views", "id,flip", "--latents", "dataset"])
    cfg = config_from_args(TrainConfig, args, TRAIN_PRESETS["default"])
    assert cfg.losses == LossWeights(requested=2.0, identity_margin=0.9) and cfg.delta.max_attrs == 1
    assert cfg.critic_views == ("id", "flip") and cfg.latents == "dataset"
    untouched = config_from_args(TrainConfig, parser.parse_args(["train"]), {})
    assert untouched == TrainConfig()
