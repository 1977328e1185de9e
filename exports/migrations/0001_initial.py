"""Export runs, moved here from qc."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = {'export': 'qc'}  # model -> the app it came from


def move_content_types(apps, schema_editor):
    """Permissions and admin history follow the models: their content types change app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED.items():
        if not ContentType.objects.filter(app_label='exports', model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label='exports')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('projects', '0004_models_move_to_their_rooms'),
        ('qc', '0003_export_moves_to_exports'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are (each model keeps its db_table): only Django's picture of
        # which app owns which model changes. No row is touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Export',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('format', models.CharField(max_length=32)),
                        ('aggregation', models.CharField(default='majority', max_length=32)),
                        ('filters', models.JSONField(blank=True, default=dict)),
                        ('status', models.CharField(choices=[('pending', 'Waiting'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=16)),
                        ('progress', models.FloatField(default=0.0)),
                        ('counts', models.JSONField(blank=True, default=dict)),
                        ('manifest', models.JSONField(blank=True, default=dict)),
                        ('files', models.JSONField(blank=True, default=list)),
                        ('error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to='projects.project')),
                        ('since_export', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='exports.export')),
                        ('streams', models.ManyToManyField(related_name='exports', to='projects.stream')),
                    ],
                    options={
                        'db_table': 'qc_export',
                        'ordering': ['-created_at'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'running', 'done', 'failed'])), name='export_status_valid'), models.CheckConstraint(condition=models.Q(('progress__gte', 0), ('progress__lte', 1)), name='export_progress_0_1')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
