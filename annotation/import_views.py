"""The import upload (PM only) and its progress/report page.

A small upload is imported inside the request; one larger than ``QUORUM_ASYNC_IMPORT_BYTES``, or
any gzipped upload (a 1 MB file may expand to gigabytes), is stored under MEDIA_ROOT/imports/ and
imported by ``annotation.tasks.run_import``. Either way the PM lands on the batch page, which polls
with htmx until the batch is done (and refreshes itself without JavaScript).
"""

from __future__ import annotations

import os
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_POST

from annotation.importing import (
    AUTO,
    FORMAT_CHOICES,
    MISMATCH_MODES,
    FormatNotDetected,
    ImportOptionsError,
    ImportReport,
    InvalidImport,
    import_items,
    parse_mapping,
    report_path,
    store_upload,
)
from annotation.models import ImportBatch
from annotation.tasks import queue_import
from projects.access import get_stream_for_pm
from projects.models import Stream

FORMAT_LABELS = {
    AUTO: "Detect from the first lines",
    "native": "Quorum JSONL (native)",
    "trl": "TRL preference (prompt / chosen / rejected)",
    "hh": "HH-RLHF transcripts (chosen / rejected)",
    "mapped": "Any JSONL or CSV with a field mapping (AlpacaEval recognised)",
}
MISMATCH_LABELS = {"full": "Import them with the whole transcripts", "skip": "Leave them out"}
EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSON Lines, CSV or TSV; gzip-compressed files are read as they are.")
    format = forms.ChoiceField(choices=[(f, FORMAT_LABELS[f]) for f in FORMAT_CHOICES], initial=AUTO)
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Mapped format only: target=source pairs, one a line, e.g. prompt=instruction.",
    )
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid lines (import the rest)")
    on_mismatch = forms.ChoiceField(
        choices=[(mode, MISMATCH_LABELS[mode]) for mode in MISMATCH_MODES],
        initial="full",
        label="Pairs whose transcripts differ before the last turn",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        name = (upload.name or "").lower().removesuffix(".gz")
        if not name.endswith(EXTENSIONS):
            raise forms.ValidationError("Upload a .jsonl, .csv or .tsv file (optionally .gz).")
        if upload.size > settings.QUORUM_MAX_UPLOAD_BYTES:
            limit = filesizeformat(settings.QUORUM_MAX_UPLOAD_BYTES)
            raise forms.ValidationError(f"The file is larger than the limit of {limit}.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        fmt, mapping = data.get("format"), data.get("mapping", "")
        if mapping and fmt == AUTO:
            data["format"] = fmt = "mapped"  # a mapping says which format it is for
        if mapping and fmt != "mapped":
            self.add_error("mapping", "A mapping applies to the mapped format only.")
        elif fmt == "mapped":
            try:
                data["mapping"] = parse_mapping(mapping)
            except ImportOptionsError as exc:
                self.add_error("mapping", str(exc))
        else:
            data["mapping"] = {}
        return data


@require_POST
@login_required
def import_upload(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _form_page(request, stream, form)
    data = form.cleaned_data
    upload = data["file"]
    options = {
        "fmt": data["format"],
        "mapping": data["mapping"] or None,
        "skip_invalid": data["skip_invalid"],
        "on_mismatch": data["on_mismatch"],
    }
    if upload.size > settings.QUORUM_ASYNC_IMPORT_BYTES or _is_gzip(upload):
        batch = store_upload(stream=stream, upload=upload, created_by=request.user, **options)
        queue_import(batch.pk)
        return redirect("annotation:import_batch", stream.pk, batch.pk)
    try:
        report = import_items(
            stream=stream,
            source=upload.file,
            filename=os.path.basename(upload.name or ""),
            created_by=request.user,
            **options,
        )
    except InvalidImport as exc:
        report = exc.report
    except FormatNotDetected as exc:
        form.add_error("format", str(exc))
        return _form_page(request, stream, form)
    except ImportOptionsError as exc:  # e.g. a mapped file whose fields match no preset
        form.add_error("mapping", str(exc))
        return _form_page(request, stream, form)
    return redirect("annotation:import_batch", stream.pk, report.batch_id)


def _is_gzip(upload: Any) -> bool:
    """Gzip by its magic bytes (whatever the name): its expanded size is unknown until read, so
    it is never imported inside the request."""
    upload.seek(0)
    magic = upload.read(2)
    upload.seek(0)
    return bool(magic == b"\x1f\x8b")


def _form_page(request: HttpRequest, stream: Stream, form: ImportForm) -> HttpResponse:
    context = {"stream": stream, "project": stream.project, "import_form": form}
    return render(request, "annotation/import_form.html", context, status=400)


@require_GET
@login_required
def import_batch(request: HttpRequest, stream_id: int, batch_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    batch = get_object_or_404(ImportBatch.objects.select_related("created_by"), pk=batch_id, stream=stream)
    finished = batch.status in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED)
    context = {
        "stream": stream,
        "project": stream.project,
        "batch": batch,
        "report": ImportReport.from_batch(batch),
        "finished": finished,
        "percent": round(100 * batch.progress),
        "has_report_file": finished and report_path(batch) is not None,
    }
    if getattr(request, "htmx", False):
        return render(request, "annotation/import_batch.html#progress", context)
    return render(request, "annotation/import_batch.html", context)


@require_GET
@login_required
def import_report_file(request: HttpRequest, stream_id: int, batch_id: int) -> FileResponse:
    stream = get_stream_for_pm(request, stream_id)
    batch = get_object_or_404(ImportBatch, pk=batch_id, stream=stream)
    path = report_path(batch)
    if path is None:
        raise Http404("This import has no report file.")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"import-{batch.pk}-report.txt",
        content_type="text/plain; charset=utf-8",
    )
