"""The app's models for this run: where each family's weights come from, loaded lazily once and shared read-only."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from gan_viz import hub
from gan_viz.device import Lazy, get_device


@dataclass
class Family:
    name: str
    title: str
    build: Callable[[hub.ResolvedWeights], object]  # ResolvedWeights -> the family's visualize object
    weights: hub.ResolvedWeights | None = None
    error: str | None = None
    model: Lazy | None = None
    withheld: str | None = None  # weights found but not offered, and why (e.g. a model below its quality bar)

    @property
    def offered(self) -> bool:
        return self.weights is not None and self.withheld is None

    def get(self):
        """The loaded model (built on first use, thread-safe), or a WeightsNotFound the UI shows as it is."""
        if self.weights is None:
            raise hub.WeightsNotFound(self.error or f"no weights for {self.name}")
        return self.model.get()


@dataclass
class AppContext:
    settings: hub.HubSettings
    families: dict[str, Family] = field(default_factory=dict)

    def add(self, name: str, title: str, build: Callable[[hub.ResolvedWeights], object]) -> Family:
        fam = Family(name, title, build)
        self.families[name] = fam
        return fam

    def resolve_all(self) -> None:
        """Find every family's weights in parallel, so an unreachable Hub costs one time-out, not one per family."""
        def one(fam: Family):
            try:
                fam.weights = hub.resolve(fam.name, self.settings)
                fam.model = Lazy(lambda f=fam: f.build(f.weights))
            except hub.WeightsNotFound as e:
                fam.error = str(e)

        with ThreadPoolExecutor(max_workers=max(1, len(self.families))) as pool:
            list(pool.map(one, self.families.values()))

    def about_markdown(self) -> str:
        rows = []
        for fam in self.families.values():
            where = fam.weights.detail if fam.weights else f"not available: {fam.error}"
            if fam.weights and fam.withheld:
                where = f"not offered yet: {fam.withheld} (weights: {fam.weights.detail})"
            rows.append(f"| {fam.title} | `{fam.name}` | {where} |")
        hub_line = (f"Hub repo `{self.settings.repo}` at revision `{self.settings.revision}`"
                    + (" (offline)" if self.settings.offline else "")) if self.settings.repo else "no Hub repo configured"
        return ("### About these models\n"
                f"Device: **{get_device()}**; {hub_line}. Each model card (README.md beside the weights) says how "
                "it was trained and what it scores.\n\n| model | family | weights this run |\n|---|---|---|\n"
                + "\n".join(rows))
