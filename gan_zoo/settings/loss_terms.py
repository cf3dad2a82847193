"""The terms a run may add to the adversarial loss: the matching-aware D, the diversity terms,
the penalties and regularisers of D, and D's augmentations. Every model takes each of them
(docs/quality.md: what each does and what it bought); TrainConfig holds them with the rest."""
import dataclasses

from gan_zoo.settings.fields import setting


@dataclasses.dataclass
class LossTerms:
    mismatch_weight: float = setting("loss", 0.0, "Matching-aware D (GAN-CLS, Reed et al. 2016): D's loss "
                                     "is real + (1 - w) fake + w (real image, wrong condition); "
                                     "0.5 is the paper's, 0 turns it off.",
                                     bounds="[0, 1) the wrong-condition share of D's fake term; 0.5: GAN-CLS")
    mismatch_epochs: int = setting("loss", 0, "Drop the matching-aware term after this many epochs (0: keep it).",
                                   bounds="[0, inf)")
    mismatch_fade: int = setting("loss", 0, "Fade the matching-aware term out instead of dropping it: its "
                                 "weight falls linearly over this many epochs before "
                                 "--mismatch_epochs (0: dropped at once).", bounds="[0, inf)")
    mode_seeking: float = setting("loss", 0.0, "MSGAN's mode-seeking term (Mao et al. 2019) in G's loss, "
                                  "this weight x 1 / (image distance / noise distance) of pairs drawn "
                                  "for one condition: against collapse within a class; 0: off.",
                                  bounds="[0, inf)")
    diversity_sensitive: float = setting(
        "loss", 0.0, "DSGAN's diversity-sensitive term (Yang et al. 2019): G's loss minus this weight x "
        "min(image distance / noise distance, --diversity_bound) of pairs drawn for one condition: "
        "a bounded reward for noise that matters; 0: off.", bounds="[0, inf)")
    diversity_bound: float = setting("loss", 1.0, "DSGAN's bound tau on the distance ratio it rewards "
                                     "(mean absolute differences: images in [-1, 1] over the noise).",
                                     bounds="(0, inf)")
    topk: float = setting("loss", 0.0, "Top-k training of G (Sinha et al. 2020): G learns only from the "
                          "fakes D rates most real, a fraction max(topk, topk_decay ^ epoch) of each "
                          "batch; this is the smallest fraction kept (0.5: the paper's); 0: off.",
                          bounds="[0, 1] the smallest share of a batch G learns from")
    topk_decay: float = setting("loss", 0.99, "Top-k: the fraction kept is multiplied by this each epoch.",
                                bounds="(0, 1]")
    consistency: float = setting("loss", 0.0, "Balanced consistency regularisation of D (bCR, Zhao et al. "
                                 "2020): this weight x the mean squared change of D's logit when "
                                 "an image is augmented (--consistency_augment), real and fake; 0: off.",
                                 bounds="[0, inf)")
    consistency_augment: str = setting("loss", "translation", "bCR's augmentations: comma-separated color, "
                                       "translation, cutout (DiffAugment's transforms).")
    lecam: float = setting("loss", 0.0, "LeCam regularisation of D (Tseng et al. 2021): this weight x "
                           "(mean (D(real) - a_fake)^2 + mean (D(fake) - a_real)^2), a_ the moving "
                           "averages (decay 0.99) of D's mean logits; keeps D's outputs from drifting "
                           "apart; 0: off.", bounds="[0, inf)")
    rotation: float = setting("loss", 0.0, "Self-supervision by rotation (Chen et al. 2019): a 4-way head on "
                              "D's last features learns which quarter turn each real image was "
                              "given; this weight (the paper's beta, 1) x its cross-entropy joins "
                              "D's loss. Square images; 0: off.", bounds="[0, inf)")
    rotation_generator: float = setting("loss", 0.2, "With --rotation: G's weight (the paper's alpha) "
                                        "on the head's cross-entropy for turned fakes, so G draws "
                                        "images whose turn D can tell.", bounds="[0, inf)")
    r1_gamma: float = setting("loss", 0.0, "R1 penalty (Mescheder et al. 2018): gamma / 2 x E ||grad D(real)||^2 "
                              "in D's loss; 0 turns it off.", bounds="[0, inf)")
    r1_every: int = setting("loss", 1, "Lazy R1: apply the penalty every N D steps, scaled by N (StyleGAN2: 16).",
                            bounds="[1, inf)")
    diffaugment: str = setting("loss", "", "DiffAugment (Zhao et al. 2020) of every image D sees, real and "
                               "fake, in both steps: comma-separated color, translation, cutout; "
                               "empty: off.")
