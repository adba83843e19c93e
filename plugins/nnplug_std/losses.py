"""The standard loss plugins, built on the classic functions of ``nnplug_std.classic.losses``."""
from nnplug.contract.hookspecs import hookimpl
from nnplug.contract.kinds import Loss
from nnplug_std.classic.losses import softmax_loss, svm_loss


@hookimpl
def nnplug_losses():
    return [
        Loss("softmax", softmax_loss, "Softmax cross-entropy, mean over the batch"),
        Loss("svm", svm_loss, "Multiclass hinge loss with margin 1, mean over the batch"),
    ]
