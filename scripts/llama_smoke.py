"""Exit 0 when the installed llama-cpp-python answers a chat with the bundled model (ai-local).

A llama.cpp build for the build machine's newest instructions (AMX, AVX-512) was seen to crash
(SIGSEGV) on every prompt longer than one token on such a machine; .ci/run checks the build with
this and rebuilds it for AVX2 when it crashes. Without the ai-local extra it exits 0 (nothing to
check).
"""

from __future__ import annotations

import importlib.util
import sys


def main() -> int:
    from worker.ai.local import local_model_path

    model = local_model_path()
    if importlib.util.find_spec("llama_cpp") is None or model is None:
        return 0
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), n_ctx=512, verbose=False)
    answer = llm.create_chat_completion(
        [{"role": "user", "content": "Name three colours of the rainbow."}], max_tokens=8)
    print("llama-cpp-python answers:", answer["choices"][0]["message"]["content"].strip()[:60])
    return 0


if __name__ == "__main__":
    sys.exit(main())
