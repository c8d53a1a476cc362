"""The scripted experiments behind ``ragft/results/*.json``: what a CPU notebook cannot afford to run.

Each module runs one experiment and stores every per-item outcome (``results`` loads and writes those
files); the notebooks compute their tables from the stored file and re-run a slice live. Run one with
``python -m ragft.experiments NAME`` (``--help`` lists them). Nothing here is taught in a notebook, and the
library (``ragft`` outside this folder) never imports it.

- ``purpose``: chapter 1's RAG-for-tickets replies;
- ``context``: chapter 2's context sweep;
- ``learning_curves``: chapter 3's facts learning curve;
- ``triage``: ticket triage (chapters 2-4, 7) and the shipped triage adapter;
- ``head_to_head``: chapter 5's five systems and the two shipped head-to-head adapters;
- ``embedder``: chapter 6's embedder fine-tune, end to end;
- ``security``: chapter 8's leaks, deletion, injection and backdoor measurements;
- ``scale``: chapter 9's index families, vector database, two-process training and throughputs;
- ``gates``: the head-to-head's confidence gates chosen again with validation questions that have no answer;
- ``wording``: chapter 5's five systems asked in plain words, and each question's distance to training;
- ``exercises``: the short model runs behind the exercise solutions of chapters 3-6 and 8.
"""
