"""The three applications, each fine-tuned from the foundation and evaluated in one call.

    intent.run_intent(views_dir, foundation_ckpt, IntentConfig(), out_dir, on_metrics=None)
    sentiment.run_sentiment(views_dir, foundation_ckpt, SentimentConfig(), out_dir,
                            on_metrics=None)
    recommendation.run_recommendation(views_dir, foundation_ckpt, RecommendationConfig(),
                                      out_dir, on_metrics=None)
        -> report.AppReport (.to_dict(), .flat_metrics(), also written to out_dir/report.json)

With `joint_dir` (multitask.train_joint: one fine-tune of intent and sentiment together)
the text applications also score the joint model and choose their main model between it
and the separate fine-tune on validation.

`IntentConfig` and `SentimentConfig` are in text_config.py, `RecommendationConfig` in
rec_config.py. Each call trains the model from the pretrained foundation, its scratch
twin (the ablation) and the classic baselines on the same split, and writes plots, a model
card (markdown + HTML) and the saved model folder (karpa_models.finetune.saved) into
out_dir. Nothing here imports Prefect or MLflow; the tasks that call these functions log
what they return. Import from the modules themselves: this package file imports nothing,
so that importing one module does not import torch through the others.
"""
