"""Studies: a grid of training configurations (architectures × losses × sizes ...) run under one budget."""

from kit.study.report import fold_scores, plot_study
from kit.study.runner import StudyRun, cell_config, run_study
from kit.study.spec import Cell, Study, list_studies, load_study

__all__ = ["Cell", "Study", "StudyRun", "cell_config", "fold_scores", "list_studies", "load_study", "plot_study",
           "run_study"]
