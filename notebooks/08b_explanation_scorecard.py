# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08b · Evaluating the explanations: faithfulness, sanity, agreement, stability
#
# None of the seeds checks its explanations. Here Grad-CAM, Integrated Gradients, occlusion and
# partition SHAP (plus a random map as the chance reference) explain the **same** test tiles and
# the **same** scalar - the mean softmax probability of the tile's main class over the region the
# model predicts for it - and each method is scored on:
#
# * **faithfulness**: deletion and insertion curves and their areas (Petsiuk et al. 2018, RISE):
#   pixels are removed (set to the training mean) or revealed (onto a blurred copy) in the
#   method's order; a faithful map makes the score fall fast (small deletion area) and rise fast
#   (large insertion area);
# * **sanity**: the model-parameter randomisation test (Adebayo et al. 2018): the same
#   explanation of a copy of the model with every weight re-initialised must look different
#   (low Spearman correlation of |attribution|). The random map ignores the model; drawn with
#   one seed for both models it would score 1 by construction, so it is drawn independently for
#   the randomised model and its value is the chance level (the similarity of two unrelated maps
#   of this size). It neither passes nor fails; a method near it changes as much as unrelated maps;
# * **agreement**: Spearman and Kendall correlations between the methods' rankings of pixels, of
#   bands (IG vs band-ablation occlusion) and of modalities (IG, occlusion, exact SHAP);
# * **stability**: the same correlations between explanations of models trained with different
#   seeds (notebook 02);
# * **correctness on known answers** (`known_*` columns): the same methods graded in notebook 11
#   on models trained on *synthetic* labels whose true bands, modality and evidence pixels are
#   known (true-band mean reciprocal rank, true modality first, pointing game, AUROC against the
#   evidence), averaged over its synthetic rules. Faithfulness asks whether a map follows the
#   model; correctness asks whether it finds what the model provably uses.
#
# Every method is built from the explainer registry (`eoxai.xai.registry`) with the same settings
# types as notebooks 04-07, so the maps graded here are computed by the code those notebooks show
# (Grad-CAM upsampled with the registry's one default, nearest). Only the scalar differs by design:
# here each method explains the class's mean probability over its predicted region.
#
# Then a **per-sample report** (CLAIRE's idea, without a hosted language model): a short text for
# one test tile whose every number is read from the result tables written here and by notebooks
# 07-08.

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
explainer_memory_mb = None  # MB an explainer's batches may use (None: the device's default)
stacks = ["sen1floods11", "eolearn"]
reference_seed = 0
split = "test"  # the held-out tiles explained (README: which split each notebook reads)
training_seeds = [0, 1, 2]
known_answer = True  # notebook 11 ran in this profile: its grades (synthetic labels) join the scorecard
max_tiles = None  # a collection's test tiles to choose from (seeded, spread over scenes); None: all
n_instances = 2
methods = ["gradcam", "ig", "occlusion", "shap", "random"]
gradcam_layer = "decoder.blocks.2"
ig_steps = 32
occlusion_grid = 8
shap_grid = 8
shap_blur = 9
shap_max_evals = 160
curve_steps = 16
batch_size = 32
sanity_threshold = 0.5
report_instance = 0

# %%
import pandas as pd
from IPython.display import Markdown, display

from eoxai import plots
from eoxai.checkpoint import load_checkpoint
from eoxai.explain_tiles import load_tiles, pick_tiles
from eoxai.fused import open_fused
from eoxai.reference import reference_checkpoint
from eoxai.report import collect_facts, facts_table, narrate
from eoxai.notebook import show, write_table
from eoxai.session import start_notebook
from eoxai.xai.explanation_figures import plot_agreement, plot_curves, plot_scorecard
from eoxai.xai.known_answer import scorecard_columns
from eoxai.xai.maps import tile_keys
from eoxai.xai.modality import band_groups
from eoxai.xai.scoring import evaluate_explanations, method_settings, scorecard

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures", "reports"))
# the registry's settings of each method (eoxai.xai.registry): notebooks 04-06 build the same explainers
settings = method_settings(gradcam_layer=gradcam_layer, ig_steps=ig_steps, occlusion_grid=occlusion_grid,
                           shap_grid=shap_grid, shap_blur=shap_blur, shap_max_evals=shap_max_evals,
                           batch_size=batch_size, kind="probability", memory_mb=explainer_memory_mb)



# %% [markdown]
# ## Explain the same tiles with every method, for the reference model, a randomised copy and every training seed
# The tiles are the seeded choice of notebook 07 (the tiles with the most labelled classes).

# %%
seeds = list(dict.fromkeys([reference_seed, *training_seeds]))
tables: dict[str, list[pd.DataFrame]] = {}
for stack in stacks:
    models = {}
    for s in seeds:
        models[s], meta = load_checkpoint(reference_checkpoint(R, stack, s))
        models[s].to(dev)
    tiles = load_tiles(open_fused(R, stack), split, meta["tile_size"], max_tiles=max_tiles, seed=seed)
    chosen = tiles.subset(pick_tiles(tiles.masks, n_instances, seed))
    print(f"{stack}: scoring {chosen.scene_summary()}, chosen among {tiles.scene_summary()} of the {split} split")
    result = evaluate_explanations(models, reference_seed, chosen.images.to(dev), band_groups(meta["modalities"]),
                                   band_names=tiles.bands, class_names=tiles.class_names, origins=chosen.places,
                                   methods=methods, settings=settings, steps=curve_steps, blur=shap_blur,
                                   seed=seed)
    for name, df in result.items():
        tables.setdefault(name, []).append(df.assign(stack=stack))
tables = {k: pd.concat(v)[["stack", *[c for c in v[0].columns if c != "stack"]]] for k, v in tables.items()}
for name, df in tables.items():
    write_table(df, R / "tables" / f"xai_{name}.csv")

card = scorecard(tables, sanity_threshold=sanity_threshold)
# correctness on known answers: notebook 11's grades on synthetic labels, joined per method and stack
card = scorecard_columns(card, pd.read_csv(R / "tables" / "known_answer.csv") if known_answer else None)
write_table(card, R / "tables" / "xai_scorecard.csv")
card.round(3)

# %% [markdown]
# ## Figures: the scorecard, the curves, the agreement between methods

# %%
show(plots.savefig(plot_scorecard(card, title=f"explanation scorecard ({n_instances} {split} tiles per stack, "
                                              f"{len(seeds)} training seeds)"), R / "figures" / "xai_scorecard.png"))
show(plots.savefig(plot_curves(tables["curves"]), R / "figures" / "xai_deletion_insertion.png"))
show(plots.savefig(plot_agreement(tables["agreement"], "spatial"), R / "figures" / "xai_agreement.png"))

# %% [markdown]
# ## Headline
# Faithfulness is ranked by insertion area minus deletion area; the random map sets the bar.

# %%
for stack in stacks:
    c = card[card["stack"] == stack].set_index("method")
    real = c.drop(index="random", errors="ignore")
    best = real["insertion_minus_deletion"].idxmax()
    rand = c["insertion_minus_deletion"].get("random")
    beat = real.index[real["insertion_minus_deletion"] > rand].tolist() if rand is not None else []
    print(f"{stack}: the most faithful method is {best} (insertion - deletion area "
          f"{real.loc[best, 'insertion_minus_deletion']:+.3f}"
          + (f"; random map {rand:+.3f}" if rand is not None else "") + f"); {len(beat)} of {len(real)} methods "
          f"beat the random map{': ' + ', '.join(beat) if beat else ''}.")
    passed = real.index[real["sanity_passed"].fillna(False).astype(bool)].tolist()
    print(f"  Randomisation check (Spearman |map| trained vs randomised < {sanity_threshold}): passed by "
          f"{', '.join(passed) or 'none'}; two independent random maps score "
          f"{c['randomisation_spearman_abs'].get('random', float('nan')):.2f} (the chance level).")
    agree = (tables["agreement"][tables["agreement"]["stack"] == stack]
             .groupby("level").agg(spearman=("spearman", "mean"), kendall=("kendall", "mean"), n=("n", "first")))
    for level, row in agree.iterrows():
        print(f"  Mean agreement between methods on {level} rankings ({int(row['n'])} {level} features): "
              f"Spearman {row['spearman']:.2f}, Kendall {row['kendall']:.2f}.")
    correct = real[["known_band_mrr", "known_modality_top1", "known_evidence_auroc"]]
    if correct.notna().any().any():
        rand_known = c.loc["random", ["known_band_mrr", "known_modality_top1", "known_evidence_auroc"]] \
            if "random" in c.index else None
        for m, row in correct.iterrows():
            graded = {k: v for k, v in row.items() if pd.notna(v)}
            if not graded:
                continue
            print(f"  Known answers (notebook 11, synthetic labels) for {m}: "
                  + ", ".join(f"{k.removeprefix('known_')} {v:.2f}"
                              + (f" (random {rand_known[k]:.2f})" if rand_known is not None
                                 and pd.notna(rand_known[k]) else "") for k, v in graded.items())
                  + f"; {'faithful (beats the random map) and ' if m in beat else 'not faithful, '}"
                  f"{'correct' if all(v >= 0.8 for v in graded.values()) else 'not correct'} on every graded "
                  "grade (>= 0.8).")
    else:
        print("  Known answers: notebook 11 graded no explainer on this stack (the stack is not in its profile, "
              "or no synthetic model there learned its rule), so correctness is not known here.")
    if real["seed_stability_spearman"].notna().any():
        st = real["seed_stability_spearman"]
        print(f"  Across training seeds the most stable maps are {st.idxmax()}'s (Spearman {st.max():.2f}), the "
              f"least stable {st.idxmin()}'s ({st.min():.2f}).")
    else:
        print("  Stability across training seeds needs at least two seeds' models (profile: 02_training.seeds).")

# %% [markdown]
# ## Per-sample report
# Every number below is read from a result table (`results/tables/*.csv`, as written to disk) by
# `eoxai.report.collect_facts`; `report_facts.csv` lists each fact with its table, column and row.
# `eoxai.report.narrate(facts, generate=...)` can hand the same facts to a local language model
# (off by default); its numbers are then checked against the facts in the same way.

# %%
names = ["modality_occlusion_tiles", "shap_band_groups", "xai_faithfulness", "xai_attributions", "xai_agreement"]
saved = {n: pd.read_csv(R / "tables" / f"{n}.csv") for n in names}
all_facts = []
for stack in stacks:
    faith = saved["xai_faithfulness"][saved["xai_faithfulness"]["stack"] == stack]
    inst = faith[tile_keys(faith)]  # (row, col), or (scene, row, col) in a collection
    tile = tuple(inst.drop_duplicates().to_dict("records")[report_instance].values())
    facts = collect_facts(saved, stack, tile)
    text, unsupported = narrate(facts)
    assert not unsupported, f"numbers without a source in the report: {unsupported}"
    (R / "reports" / f"sample_report_{stack}.md").write_text(f"# {stack}: {split} tile {tile}\n\n{text}\n")
    all_facts.append(facts_table(facts, stack=stack))
    display(Markdown(f"**{stack}**\n\n" + text.replace("\n", "\n\n")))
pd.concat(all_facts).to_csv(R / "tables" / "report_facts.csv", index=False)
