"""The multi-task models of notebook 04 besides the shared one (``build_shared_model``: one backbone, an
emotion and an authenticity head, ``helpers.models.heads.Classifier``):

- ``FusionModel``: in the spirit of Bendjoudi et al. 2021 (multi-label, multi-task CNN for context-based
  emotion recognition): two feature streams, the face crop and the wider *context* crop of the same frame,
  fused by concatenation + MLP or by attention weights over the streams, then the two heads;
- ``CascadeModel``: stage 1 predicts the emotion; stage 2 judges genuine vs posed given an emotion (the true
  one while training, the predicted one at test time), with one real/fake head per emotion or one MLP fed a
  learned emotion embedding.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from helpers.models.backbones import Backbone, build_backbone, build_model
from helpers.models.heads import TWO_TASK_HEADS, Classifier, FreezableBackbone, hidden_layer, linear_head

VARIANTS = ("shared", "fusion", "cascade")
FUSIONS = ("concat", "attention")
CONDITIONINGS = ("heads", "embedding")


def build_shared_model(name: str, weights: str | bool | None = "default", image_size: int | None = None,
                       dropout: float = 0.0, freeze_backbone: bool = False) -> Classifier:
    """One backbone, an emotion head (6) and an authenticity head (2); the backbone runs once per pass."""
    return build_model(name, TWO_TASK_HEADS, weights, freeze_backbone, image_size, dropout)


class FusionModel(FreezableBackbone, nn.Module):
    """Face and context streams, fused, then an emotion and an authenticity head.

    ``forward(face, context) -> {head: logits}``. ``backbone`` is a ``ModuleDict`` (``face``, ``context``), so
    ``TrainConfig.backbone_lr`` and ``freeze_backbone`` apply to both streams.

    ``fusion="concat"``: ``MLP([f_face, f_context])``; ``fusion="attention"``: each stream is projected to
    ``hidden`` features, a small scorer gives each stream a weight (softmax over the two streams, per sample)
    and the weighted sum goes through the MLP. With attention the output also holds ``stream_weights``
    ``[B, 2]`` (face, context; rows sum to 1), and ``model.stream_weights`` keeps the last batch's. The
    output key, not the attribute, is what ``MultiTaskTask`` records: it survives DDP wrapping and is gathered
    across processes like the other outputs.
    """

    def __init__(self, face: Backbone, context: Backbone, heads: Mapping[str, int] = TWO_TASK_HEADS,
                 fusion: str = "concat", hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        if fusion not in ("concat", "attention"):
            raise ValueError(f"unknown fusion {fusion!r}: concat or attention")
        self.backbone = nn.ModuleDict({"face": face, "context": context})
        self.fusion = fusion
        if fusion == "concat":
            self.project = nn.ModuleDict()
            fused = face.feature_dim + context.feature_dim
        else:
            self.project = nn.ModuleDict({"face": nn.Linear(face.feature_dim, hidden),
                                          "context": nn.Linear(context.feature_dim, hidden)})
            self.score = nn.Sequential(nn.Tanh(), nn.Linear(hidden, 1))
            fused = hidden
        self.mlp = hidden_layer(fused, hidden, dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in heads.items()})
        self.stream_weights: Tensor | None = None

    def forward(self, face: Tensor, context: Tensor) -> dict[str, Tensor]:
        f_face, f_context = self.backbone["face"](face), self.backbone["context"](context)
        if self.fusion == "concat":
            fused = torch.cat([f_face, f_context], dim=1)
        else:
            streams = torch.stack([self.project["face"](f_face), self.project["context"](f_context)], dim=1)
            attention = torch.softmax(self.score(streams).squeeze(-1), dim=1)  # [B, 2]
            self.stream_weights = attention.detach()
            fused = (attention.unsqueeze(-1) * streams).sum(dim=1)
        shared = self.mlp(fused)
        out = {name: head(shared) for name, head in self.heads.items()}
        if self.fusion == "attention":
            out["stream_weights"] = attention
        return out


def build_fusion_model(name: str, weights: str | bool | None = "default", image_size: int | None = None,
                       fusion: str = "concat", hidden: int = 256, dropout: float = 0.0,
                       freeze_backbone: bool = False) -> FusionModel:
    """Two backbones of the same architecture (face, context), each with its own weights."""
    model = FusionModel(build_backbone(name, weights, image_size), build_backbone(name, weights, image_size),
                        TWO_TASK_HEADS, fusion, hidden, dropout)
    model.freeze_backbone(freeze_backbone)
    return model


class CascadeModel(FreezableBackbone, nn.Module):
    """Emotion first, then genuine vs posed *given* the emotion, on one shared backbone (run once).

    ``forward(images, emotion=None)`` returns ``emotion`` logits ``[B, 6]``, ``authenticity_per_emotion``
    ``[B, 6, 2]`` (the real/fake logits under each of the 6 emotions) and ``authenticity`` ``[B, 2]``: the
    logits under ``emotion`` when given (teacher forcing, in training), else under the *predicted* emotion
    (end to end, at test time).

    How stage 2 is conditioned on the emotion (``conditioning``):

    - ``heads``: one linear real/fake head per emotion; the emotion picks the head.
    - ``embedding``: one real/fake MLP (``hidden`` units) reads the shared features concatenated with a
      learned ``embedding_dim``-dimensional embedding of the emotion. The emotions share the real/fake
      weights (fewer parameters, each emotion's few videos help the others) and the embedding can change
      which features matter, which a linear layer on ``[features, embedding]`` could not: its embedding term
      would only shift the logits by a per-emotion bias.

    Training conditions stage 2 on the **true** emotion (teacher forcing) in both modes, not on the soft
    predicted distribution: the real/fake head then learns "genuine vs posed for *this* emotion" from the
    start instead of from early, mostly wrong stage-1 guesses; no real/fake gradient leaks into the
    emotion head through the distribution; and the two modes differ only in *how* they condition, so their
    comparison is fair. The price is exposure bias: at test time the (argmax) predicted emotion can be wrong,
    which is exactly what the end-to-end vs oracle comparison of notebook 04 measures.
    """

    def __init__(self, backbone: Backbone, dropout: float = 0.0, conditioning: str = "heads",
                 embedding_dim: int = 16, hidden: int = 128):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"unknown conditioning {conditioning!r}; choose one of {', '.join(CONDITIONINGS)}")
        self.backbone = backbone
        self.conditioning = conditioning
        self.n_emotions, self.n_authenticity = TWO_TASK_HEADS["emotion"], TWO_TASK_HEADS["authenticity"]
        if conditioning == "heads":
            authenticity = linear_head(backbone.feature_dim, self.n_emotions * self.n_authenticity, dropout)
        else:
            self.emotion_embedding = nn.Embedding(self.n_emotions, embedding_dim)
            authenticity = nn.Sequential(nn.Dropout(dropout), hidden_layer(backbone.feature_dim + embedding_dim, hidden,
                                                                        dropout), nn.Linear(hidden, self.n_authenticity))
        self.heads = nn.ModuleDict({"emotion": linear_head(backbone.feature_dim, self.n_emotions, dropout),
                                    "authenticity": authenticity})

    def authenticity_per_emotion(self, features: Tensor) -> Tensor:
        """Real/fake logits ``[B, 6, 2]`` of ``features`` ``[B, F]`` under each emotion (only the heads run
        6 times, not the backbone: the oracle metric needs the true emotion's logits, the prediction the
        predicted one's)."""
        if self.conditioning == "heads":
            return self.heads["authenticity"](features).view(-1, self.n_emotions, self.n_authenticity)
        batch = features.shape[0]
        embeddings = self.emotion_embedding.weight.unsqueeze(0).expand(batch, -1, -1)  # [B, 6, E]
        paired = torch.cat([features.unsqueeze(1).expand(-1, self.n_emotions, -1), embeddings], dim=2)
        return self.heads["authenticity"](paired)

    def forward(self, images: Tensor, emotion: Tensor | None = None) -> dict[str, Tensor]:
        features = self.backbone(images)
        emotion_logits = self.heads["emotion"](features)
        per_emotion = self.authenticity_per_emotion(features)
        chosen = emotion_logits.argmax(dim=1) if emotion is None else emotion.long()
        selected = per_emotion[torch.arange(per_emotion.shape[0], device=per_emotion.device), chosen]
        return {"emotion": emotion_logits, "authenticity": selected, "authenticity_per_emotion": per_emotion}


def build_cascade_model(name: str, weights: str | bool | None = "default", image_size: int | None = None,
                        dropout: float = 0.0, freeze_backbone: bool = False, conditioning: str = "heads",
                        embedding_dim: int = 16, hidden: int = 128) -> CascadeModel:
    """``CascadeModel`` on a registered backbone; ``conditioning``: ``heads`` (one real/fake head per emotion)
    or ``embedding`` (one real/fake MLP reading the features and a learned emotion embedding)."""
    model = CascadeModel(build_backbone(name, weights, image_size), dropout, conditioning, embedding_dim,
                         hidden)
    model.freeze_backbone(freeze_backbone)
    return model
