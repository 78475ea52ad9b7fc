#!/usr/bin/env bash
# ParallelBench on real diffusion LLMs and an autoregressive baseline (needs a GPU and the
# weights from the Hugging Face hub; nothing here runs in CI). Every run writes a standard
# lm-eval results folder that `parallelbench report` reads.
set -euo pipefail
out=${1:-runs}

# LLaDA 1.5, one token per step (the paper's baseline) and two tokens per step
for k in 1 2; do
  lm_eval --model dllm \
    --model_args pretrained=GSAI-ML/LLaDA-1.5,trust_remote_code=True,unmasking=confidence,k=$k \
    --tasks parallelbench --apply_chat_template --fewshot_as_multiturn \
    --batch_size 16 --log_samples --output_path "$out/llada15_confidence_k$k"
done

# Dream 7B with an adaptive threshold on the entropy score
lm_eval --model dllm \
  --model_args pretrained=Dream-org/Dream-v0-Instruct-7B,trust_remote_code=True,unmasking=entropy,threshold=0.9 \
  --tasks parallelbench --apply_chat_template --fewshot_as_multiturn \
  --batch_size 16 --log_samples --output_path "$out/dream_entropy_threshold0.9"

# The paper's dLLM-versus-autoregressive table: 15-person Waiting Line, 128 tokens
lm_eval --model dllm --model_args pretrained=GSAI-ML/LLaDA-1.5,trust_remote_code=True,k=1 \
  --tasks parallelbench_waiting_line_n15 --apply_chat_template --fewshot_as_multiturn \
  --batch_size 16 --log_samples --output_path "$out/llada15_n15"
lm_eval --model hf --model_args pretrained=Qwen/Qwen2.5-7B-Instruct \
  --tasks parallelbench_waiting_line_n15,parallelbench --apply_chat_template --fewshot_as_multiturn \
  --batch_size 16 --log_samples --output_path "$out/qwen25_7b"

# The paper's strategy grids for one model, loading it once; then every figure and the PBx score
parallelbench sweep --model dllm --model_args pretrained=GSAI-ML/LLaDA-1.5,trust_remote_code=True \
  --tasks parallelbench --apply_chat_template --fewshot_as_multiturn --batch_size 16 \
  --grid topk --grid threshold --grid factor --grid semi_ar --output_path "$out/llada15_sweep"
# The leaderboard's other methods on the same model, and the threshold rule with a prefix cache
parallelbench sweep --model dllm --model_args pretrained=GSAI-ML/LLaDA-1.5,trust_remote_code=True \
  --tasks parallelbench --apply_chat_template --fewshot_as_multiturn --batch_size 16 \
  --grid wino_plain --grid slowfast --grid klass --grid dus \
  --config threshold=0.9,cache=prefix --config threshold=0.9,cache=dual --output_path "$out/llada15_sweep"
parallelbench report "$out" --out "$out/report"
