"""Fine-tuning the foundation model into applications, in plain PyTorch.

The public API, by module (import from the modules themselves: this package file imports
nothing, so that `karpa_models.finetune.config` loads without torch):
    config       ClassifierConfig, RecommenderConfig              recipes (frozen dataclasses)
    classifier   TextClassifier; train_classifier(foundation, tokenizer, train_texts,
                 train_labels, val_texts, val_labels, cfg, classes=None, features=None,
                 on_metrics=None, unlabeled_texts=()) -> FineTunedClassifier
    self_training self_train_probe(fit, x_train, y_train, x_pool, rounds, share,
                 normalize)   a probe refitted on its most confident unlabeled vectors
    predictors   FineTunedClassifier (.predict_proba(texts) -> (n, C), .predict(texts)),
                 FineTunedRecommender (.score(histories) -> (U, I), .recommend(history, k))
    text         TextFeatures(text_tower, tokenizer, max_len, runtime)   memoised features
    scratch      scratch_foundation(model_cfg, texts, tokenizer=None, seed=0)
                 -> (FoundationModel, Tokenizer)
    catalogue    ItemCatalogue(item_ids, texts, images=None, has_image=None)
    next_item    train_recommender(foundation, tokenizer, catalogue, train_sequences,
                 val_histories, val_targets, cfg, decoder_state=None, on_metrics=None,
                 *, val_metrics) -> FineTunedRecommender
    recommender  NextItemRecommender; pretrained_item_decoder(checkpoint_path) -> state | None
    saved        save_classifier(clf, folder) / load_classifier(folder, device="cpu"),
                 save_recommender(rec, folder) / load_recommender(folder, device="cpu")
"""
