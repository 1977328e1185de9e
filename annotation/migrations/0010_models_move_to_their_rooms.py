"""Conversations move to the dynamic room; import runs come here from projects."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = {'importbatch': 'projects'}  # model -> the app it came from


def move_content_types(apps, schema_editor):
    """Permissions and admin history follow the models: their content types change app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED.items():
        if not ContentType.objects.filter(app_label='annotation', model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label='annotation')


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('annotation', '0009_fewer_write_indexes'),
        ('projects', '0003_qualification_attempts_and_actions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are (each model keeps its db_table): only Django's picture of
        # which app owns which model changes. No row is touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='turn',
                    name='conversation',
                ),
                migrations.RemoveField(
                    model_name='conversationcandidate',
                    name='conversation',
                ),
                migrations.RemoveField(
                    model_name='conversationcandidate',
                    name='endpoint',
                ),
                migrations.RemoveField(
                    model_name='generation',
                    name='endpoint',
                ),
                migrations.RemoveField(
                    model_name='generation',
                    name='turn',
                ),
                migrations.RemoveField(
                    model_name='turn',
                    name='item',
                ),
                migrations.CreateModel(
                    name='ImportBatch',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('filename', models.CharField(max_length=300)),
                        ('file_path', models.CharField(blank=True, max_length=500)),
                        ('format', models.CharField(max_length=16)),
                        ('options', models.JSONField(blank=True, default=dict)),
                        ('status', models.CharField(choices=[('pending', 'Waiting'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=16)),
                        ('lines_read', models.PositiveIntegerField(default=0)),
                        ('created_count', models.PositiveIntegerField(default=0)),
                        ('updated_count', models.PositiveIntegerField(default=0)),
                        ('unchanged_count', models.PositiveIntegerField(default=0)),
                        ('invalid_count', models.PositiveIntegerField(default=0)),
                        ('report', models.JSONField(blank=True, default=dict)),
                        ('total_bytes', models.BigIntegerField(default=0)),
                        ('bytes_read', models.BigIntegerField(default=0)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('stream', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='import_batches', to='projects.stream')),
                    ],
                    options={
                        'db_table': 'projects_importbatch',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.AlterField(
                    model_name='item',
                    name='import_batch',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='items', to='annotation.importbatch'),
                ),
                migrations.DeleteModel(
                    name='Conversation',
                ),
                migrations.DeleteModel(
                    name='ConversationCandidate',
                ),
                migrations.DeleteModel(
                    name='Generation',
                ),
                migrations.DeleteModel(
                    name='Turn',
                ),
                migrations.AddConstraint(
                    model_name='importbatch',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'running', 'done', 'failed'])), name='import_batch_status_valid'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
