"""Heads on top of ``BertModel`` (pretraining with MLM + NSP, fine-tuning) and ``GPTModel``.

- ``BertForPreTraining`` (taught in notebook 04, sections 4 and 5): the
  masked-language-model head (``BertMLMHead``) on every token and the
  next-sentence head on the pooled [CLS] vector, as in Devlin et al. (2019).
- ``BertForSequenceClassification`` (notebook 05, section 3): one label per
  sequence (a sentence or a sentence pair), read from [CLS].
- ``BertForTokenClassification`` (notebook 05, section 3): one label per token (tagging).
- ``GPTForSequenceClassification`` (notebook 06): one label per sequence, read from the
  last real token, as in GPT-1 (Radford et al. 2018).

A fine-tuning model starts from a pretrained body:

>>> from course_utils.models import get_config
>>> pretrained = BertForPreTraining(get_config("bert-tiny", vocab_size=100))
>>> classifier = BertForSequenceClassification.from_pretrained_body(pretrained.bert, num_labels=3)
>>> classifier.eval()(torch.tensor([[2, 15, 16, 3]])).shape
torch.Size([1, 3])
"""

from __future__ import annotations

import copy
from typing import NamedTuple, TypeVar

import torch  # noqa: F401  (the docstring examples use it)
from torch import Tensor, nn

from course_utils.models.bert import BertModel
from course_utils.models.config import ModelConfig
from course_utils.models.gpt import GPTModel
from course_utils.models.tying import TiedWeights
from course_utils.transformer import get_activation, init_weights


class BertMLMHead(nn.Module):
    """Taught in notebook 04, section 4. Masked-language-model head:
    ``decoder(norm(activation(dense(h))))``.

    ``dense`` (d -> d), the activation and the LayerNorm ``norm`` transform
    each hidden state; ``decoder`` (d -> vocab) scores every vocabulary word.
    Pass ``token_embeddings`` to tie the decoder to them
    (``decoder.weight is token_embeddings.weight``): the same vector then reads
    a token in and scores it out. The decoder keeps its own bias.
    """

    def __init__(self, config: ModelConfig, token_embeddings: nn.Embedding | None = None) -> None:
        super().__init__()
        d = config.d_model
        self.dense = nn.Linear(d, d)
        self.activation = get_activation(config.activation)
        self.norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(d, config.vocab_size)
        init_weights(self, std=config.init_std)  # the decoder bias starts at zero
        if token_embeddings is not None:
            if token_embeddings.weight.shape != self.decoder.weight.shape:
                raise ValueError(
                    f"token_embeddings of shape {tuple(token_embeddings.weight.shape)} cannot be "
                    f"tied to a decoder of shape {tuple(self.decoder.weight.shape)} "
                    f"(vocab_size, d_model)"
                )
            self.decoder.weight = token_embeddings.weight

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden (..., D)`` -> logits ``(..., vocab_size)``."""
        return self.decoder(self.norm(self.activation(self.dense(hidden))))  # (..., D) -> (..., V)


class PreTrainingOutput(NamedTuple):
    """What ``BertForPreTraining`` returns.

    ``mlm_logits``: ``(B, L, V)``, or ``(N, V)`` for the ``N`` positions of
    ``masked_positions``; ``nsp_logits (B, 2)``: is-next (0) / random (1);
    ``hidden (B, L, D)``; ``attentions``: one ``(B, H, L, L)`` per layer if
    ``need_weights``.
    """

    mlm_logits: Tensor
    nsp_logits: Tensor
    hidden: Tensor
    attentions: list[Tensor] | None = None


class BertForPreTraining(TiedWeights):
    """Taught in notebook 04, sections 4 and 5. BERT body ``bert``, MLM head ``mlm``
    (always tied to the token embeddings) and next-sentence head ``nsp``
    (``Linear(d, 2)`` on the pooled [CLS] vector).

    Needs ``config.pooler=True``. Head weights are initialized like the body.

    The MLM loss only looks at the ~15% masked positions, so computing logits
    for all ``B * L`` positions wastes most of the largest matrix product of
    the model (``d x vocab_size``). Pass ``masked_positions`` (bool ``(B, L)``,
    e.g. ``labels != -100``) to score only those positions; the rows of
    ``mlm_logits`` then follow ``labels[masked_positions]`` (sequence by
    sequence, left to right). In ``tests/benchmarks/bench_bert.py`` this makes
    a tiny model's training step about 20% faster; the loss is the same.

    >>> from course_utils.models import get_config
    >>> model = BertForPreTraining(get_config("bert-tiny", vocab_size=100)).eval()
    >>> ids = torch.tensor([[2, 15, 4, 3, 16, 4, 3]])        # 4 = [MASK]
    >>> labels = torch.tensor([[-100, -100, 17, -100, -100, 18, -100]])
    >>> out = model(ids, masked_positions=labels != -100)
    >>> out.mlm_logits.shape, out.nsp_logits.shape        # 2 masked positions
    (torch.Size([2, 100]), torch.Size([1, 2]))
    >>> loss = nn.functional.cross_entropy(out.mlm_logits, labels[labels != -100])
    >>> model.mlm.decoder.weight is model.bert.embeddings.token_embeddings.weight
    True
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not config.pooler:
            raise ValueError(
                "BertForPreTraining needs config.pooler=True: next-sentence prediction "
                "reads the pooled [CLS] vector"
            )
        self.config = config
        self.bert = BertModel(config)
        self.mlm = BertMLMHead(config, token_embeddings=self.bert.embeddings.token_embeddings)
        self.nsp = nn.Linear(config.d_model, 2)
        init_weights(self.nsp, std=config.init_std)

    def tie_weights(self) -> None:
        """Make the MLM decoder share the token embedding matrix (again)."""
        self.mlm.decoder.weight = self.bert.embeddings.token_embeddings.weight

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        masked_positions: Tensor | None = None,
    ) -> PreTrainingOutput:
        """Arguments as ``BertModel.forward``; ``masked_positions (B, L)`` bool,
        True where MLM logits are wanted (see the class docstring)."""
        out = self.bert(input_ids, token_type_ids, attention_mask, need_weights=need_weights)
        hidden = out.hidden
        if masked_positions is None:
            mlm_logits = self.mlm(hidden)
        else:
            if masked_positions.dtype != torch.bool or masked_positions.shape != input_ids.shape:
                raise ValueError(
                    f"masked_positions must be a bool tensor shaped like input_ids "
                    f"{tuple(input_ids.shape)}; got {masked_positions.dtype} of shape "
                    f"{tuple(masked_positions.shape)} (try labels != -100)"
                )
            mlm_logits = self.mlm(hidden[masked_positions])  # (N, D) -> (N, V)
        assert out.pooled is not None  # config.pooler is checked in __init__
        return PreTrainingOutput(mlm_logits, self.nsp(out.pooled), hidden, out.attentions)


_Classifier = TypeVar("_Classifier", bound="_BertWithClassifier")


class _BertWithClassifier(nn.Module):
    """A BERT body ``bert``, ``dropout`` and a ``Linear(d, num_labels)`` ``classifier``.

    ``config_or_bert``: a ``ModelConfig`` builds a new, randomly
    initialized body; a ``BertModel`` is used as it is (shared, not copied).
    """

    def __init__(self, config_or_bert: ModelConfig | BertModel, num_labels: int) -> None:
        super().__init__()
        _check_num_labels(num_labels)
        bert = _body_from(config_or_bert, BertModel)
        self.config = bert.config
        self.num_labels = num_labels
        self.bert = bert
        self.dropout = nn.Dropout(self.config.dropout)
        self.classifier = nn.Linear(self.config.d_model, num_labels)
        init_weights(self.classifier, std=self.config.init_std)

    @classmethod
    def from_pretrained_body(
        cls: type[_Classifier], bert: BertModel, num_labels: int, **options: bool
    ) -> _Classifier:
        """A new model on a *copy* of ``bert`` (e.g. ``BertForPreTraining.bert``),
        with a fresh classifier; the pretrained model is left untouched. ``options``
        go to the constructor (e.g. ``use_pooler``)."""
        if not isinstance(bert, BertModel):
            raise ValueError(
                f"from_pretrained_body needs a BertModel (e.g. pretraining_model.bert); "
                f"got {type(bert).__name__}"
            )
        return cls(copy.deepcopy(bert), num_labels, **options)


class BertForSequenceClassification(_BertWithClassifier):
    """Taught in notebook 05, section 3. One label per sequence:
    ``classifier(dropout(cls_vector))``.

    The [CLS] vector is the pooled output if the body has a pooler and
    ``use_pooler`` (as in BERT and Hugging Face), else ``hidden[:, 0]``, the last
    layer's [CLS] state itself. The pooler was trained only by next-sentence
    prediction, and a random one (``tanh`` of a small layer) slows down training
    from scratch, so the course's fine-tuning reads ``hidden[:, 0]``. For sentence
    pairs pass ``token_type_ids`` (0 for the first sentence, 1 for the second), as
    in pretraining. Build it from a pretrained body with ``from_pretrained_body``.
    """

    def __init__(
        self, config_or_bert: ModelConfig | BertModel, num_labels: int, use_pooler: bool = True
    ) -> None:
        super().__init__(config_or_bert, num_labels)
        self.use_pooler = use_pooler and self.bert.pooler is not None

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
    ) -> Tensor:
        """Logits ``(B, num_labels)``; arguments as ``BertModel.forward``."""
        out = self.bert(input_ids, token_type_ids, attention_mask)
        cls_vector = out.pooled if self.use_pooler else out.hidden[:, 0]
        return self.classifier(self.dropout(cls_vector))


class BertForTokenClassification(_BertWithClassifier):
    """Taught in notebook 05, section 3. One label per token (e.g. part-of-speech or
    named-entity tags): ``classifier(dropout(hidden))``. Build it from a pretrained body with
    ``from_pretrained_body``.
    """

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
    ) -> Tensor:
        """Logits ``(B, L, num_labels)``; padded positions get logits too (mask
        them out of the loss, e.g. with label -100)."""
        out = self.bert(input_ids, token_type_ids, attention_mask)
        return self.classifier(self.dropout(out.hidden))


class GPTClassifierOutput(NamedTuple):
    """What ``GPTForSequenceClassification`` returns.

    ``logits (B, num_labels)``: the classifier's scores; ``lm_logits (B, L, V)``: the
    language model's next-token scores when ``need_lm_logits=True``, else None;
    ``hidden (B, L, D)``: the body's last hidden states.
    """

    logits: Tensor
    lm_logits: Tensor | None
    hidden: Tensor


class GPTForSequenceClassification(nn.Module):
    """Taught in notebook 06 (fine-tuning). GPT-1's classifier: ``y = A h_T + b``, where
    ``h_T`` is the last layer's hidden state at the last real token of the sequence.

    In a causal model only the last position has read the whole input, so that is
    where the classifier looks. With padding (left or right), "last" means the last
    position whose ``attention_mask`` is 1. ``gpt`` is the body, LM head included
    (``classifier`` is ``A, b``, a ``Linear(d, num_labels)``; ``dropout`` comes before it).

    GPT-1 fine-tunes on ``L3 = L2 + lambda * L1``: the classification loss ``L2`` plus
    the language-modelling loss ``L1`` on the same inputs. ``need_lm_logits=True`` also
    returns the LM logits for ``L1`` (they cost one ``d x vocab_size`` product per position,
    so they are skipped by default):

    >>> from course_utils.models import get_config
    >>> pretrained = GPTModel(get_config("gpt-tiny", vocab_size=100))
    >>> model = GPTForSequenceClassification.from_pretrained_body(pretrained, num_labels=2)
    >>> ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])          # right-padded
    >>> mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    >>> out = model(ids, attention_mask=mask, need_lm_logits=True)
    >>> out.logits.shape, out.lm_logits.shape
    (torch.Size([2, 2]), torch.Size([2, 4, 100]))
    >>> l2 = nn.functional.cross_entropy(out.logits, torch.tensor([1, 0]))
    >>> targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # the next token, not padding
    >>> l1 = nn.functional.cross_entropy(out.lm_logits[:, :-1].transpose(1, 2), targets)
    >>> l3 = l2 + 0.5 * l1
    """

    def __init__(self, config_or_gpt: ModelConfig | GPTModel, num_labels: int) -> None:
        super().__init__()
        _check_num_labels(num_labels)
        gpt = _body_from(config_or_gpt, GPTModel)
        self.config = gpt.config
        self.num_labels = num_labels
        self.gpt = gpt
        self.dropout = nn.Dropout(self.config.dropout)
        self.classifier = nn.Linear(self.config.d_model, num_labels)
        init_weights(self.classifier, std=self.config.init_std)

    @classmethod
    def from_pretrained_body(cls, gpt: GPTModel, num_labels: int) -> GPTForSequenceClassification:
        """A new model on a *copy* of the pretrained ``gpt``, with a fresh classifier; the
        pretrained model is left untouched."""
        if not isinstance(gpt, GPTModel):
            raise ValueError(
                f"from_pretrained_body needs a GPTModel; got {type(gpt).__name__}"
            )
        return cls(copy.deepcopy(gpt), num_labels)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        need_lm_logits: bool = False,
    ) -> GPTClassifierOutput:
        """``input_ids (B, L)``, ``attention_mask (B, L)`` (1 = real token, 0 = padding;
        None = no padding) -> ``GPTClassifierOutput``."""
        hidden = self.gpt.hidden_states(input_ids, attention_mask).hidden  # (B, L, D)
        last = last_token_positions(input_ids, attention_mask)  # (B,)
        h_last = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, D)
        logits = self.classifier(self.dropout(h_last))  # y = A h_T + b, (B, num_labels)
        lm_logits = self.gpt.lm_head(hidden) if need_lm_logits else None  # (B, L, V)
        return GPTClassifierOutput(logits, lm_logits, hidden)


def last_token_positions(input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Taught in notebook 06 (fine-tuning). The position of each sequence's last real token,
    ``(B,)``: the last position whose ``attention_mask`` is 1, whether the padding is on
    the right or on the left.

    >>> ids = torch.tensor([[5, 6, 7], [5, 6, 0], [0, 5, 6]])
    >>> last_token_positions(ids, torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 1]]))
    tensor([2, 1, 2])
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, length); got {tuple(input_ids.shape)}")
    batch, length = input_ids.shape
    if attention_mask is None:
        return torch.full((batch,), length - 1, dtype=torch.long, device=input_ids.device)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}; "
            f"got {tuple(attention_mask.shape)}"
        )
    positions = torch.arange(1, length + 1, device=input_ids.device)  # 1 .. L
    last = (attention_mask.long() * positions).amax(dim=1) - 1  # (B,), -1 if no real token
    if (last < 0).any():
        raise ValueError(
            f"every sequence needs at least one real token (attention_mask 1); rows "
            f"{(last < 0).nonzero().flatten().tolist()} have none"
        )
    return last


def _check_num_labels(num_labels: object) -> None:
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive int; got {num_labels!r}")


_Body = TypeVar("_Body", bound=nn.Module)


def _body_from(config_or_body: object, body_class: type[_Body]) -> _Body:
    """A new, randomly initialised ``body_class`` from a ``ModelConfig``, or the given body itself
    (shared, not copied)."""
    if isinstance(config_or_body, ModelConfig):
        return body_class(config_or_body)
    if isinstance(config_or_body, body_class):
        return config_or_body
    raise ValueError(f"expected a ModelConfig or a {body_class.__name__}; got {type(config_or_body).__name__}")
