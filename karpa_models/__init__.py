"""karpa_models: the multimodal foundation model and its self-supervised pretraining, in
plain PyTorch. No Prefect, no MLflow: inputs are Python and numpy, metrics leave through a
callback.

The public API, by module (import from the modules themselves: this package file imports
nothing, so that `karpa_models.corpus` and `karpa_models.config` load without torch):
    config       ModelConfig, TrainConfig, TextConfig, ImageConfig, BehaviourConfig,
                 OBJECTIVES, load_preset(name) -> (ModelConfig, TrainConfig)
    corpus       PretrainCorpus, RetrievalSet, CorpusError
    tokenizer    train_tokenizer(texts, vocab_size) -> tokenizers.Tokenizer,
                 tokenizer_fingerprint(texts, vocab_size) -> str, save_tokenizer, load_tokenizer
    model        FoundationModel, build_model(cfg) -> FoundationModel
    engine       NonFiniteLossError
    pretraining  pretrain(corpus, model_cfg, train_cfg, out_dir, on_metrics, resume=True)
                 -> PretrainResult; load_foundation(checkpoint_path)
                 -> (FoundationModel, Tokenizer, ModelConfig)
    retrieval    evaluate_retrieval(model, tokenizer, held_out) -> dict[str, float]
"""
