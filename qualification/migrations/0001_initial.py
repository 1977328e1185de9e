"""Qualification tests, moved here from projects."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = {'qualificationtest': 'projects', 'qualificationquestion': 'projects', 'qualificationattempt': 'projects', 'qualificationanswer': 'projects'}  # model -> the app it came from


def move_content_types(apps, schema_editor):
    """Permissions and admin history follow the models: their content types change app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED.items():
        if not ContentType.objects.filter(app_label='qualification', model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label='qualification')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('annotation', '0010_models_move_to_their_rooms'),
        ('projects', '0004_models_move_to_their_rooms'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are (each model keeps its db_table): only Django's picture of
        # which app owns which model changes. No row is touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='QualificationTest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('pass_mark', models.FloatField(default=0.8, validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)])),
                        ('max_attempts', models.PositiveSmallIntegerField(default=2, validators=[django.core.validators.MinValueValidator(1)])),
                        ('cooldown_hours', models.FloatField(default=24.0, validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('time_limit_minutes', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('shuffle_questions', models.BooleanField(default=True)),
                        ('shuffle_responses', models.BooleanField(default=True, help_text='Random response order per question and attempt.')),
                        ('show_explanations', models.BooleanField(default=True)),
                        ('is_active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('stream', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='qualification_test', to='projects.stream')),
                    ],
                    options={
                        'db_table': 'projects_qualificationtest',
                    },
                ),
                migrations.CreateModel(
                    name='QualificationQuestion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('acceptable_answers', models.JSONField(default=list)),
                        ('explanation', models.TextField(blank=True)),
                        ('position', models.PositiveIntegerField(default=0)),
                        ('item', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotation.item')),
                        ('test', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='questions', to='qualification.qualificationtest')),
                    ],
                    options={
                        'db_table': 'projects_qualificationquestion',
                        'ordering': ['position', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='QualificationAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveSmallIntegerField()),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('deadline_at', models.DateTimeField(blank=True, null=True)),
                        ('submitted_at', models.DateTimeField(blank=True, null=True)),
                        ('score', models.FloatField(blank=True, null=True)),
                        ('passed', models.BooleanField(null=True)),
                        ('question_order', models.JSONField(default=list)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='qualification_attempts', to=settings.AUTH_USER_MODEL)),
                        ('test', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='qualification.qualificationtest')),
                    ],
                    options={
                        'db_table': 'projects_qualificationattempt',
                    },
                ),
                migrations.CreateModel(
                    name='QualificationAnswer',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('answer', models.CharField(max_length=16)),
                        ('display_order', models.JSONField(default=list)),
                        ('correct', models.BooleanField()),
                        ('answered_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('attempt', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='answers', to='qualification.qualificationattempt')),
                        ('question', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='answers', to='qualification.qualificationquestion')),
                    ],
                    options={
                        'db_table': 'projects_qualificationanswer',
                        'constraints': [models.UniqueConstraint(fields=('attempt', 'question'), name='qanswer_once_per_attempt')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='qualificationtest',
                    constraint=models.CheckConstraint(condition=models.Q(('pass_mark__gte', 0), ('pass_mark__lte', 1)), name='qtest_pass_mark_0_1'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationtest',
                    constraint=models.CheckConstraint(condition=models.Q(('max_attempts__gte', 1)), name='qtest_max_attempts_positive'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationtest',
                    constraint=models.CheckConstraint(condition=models.Q(('cooldown_hours__gte', 0)), name='qtest_cooldown_nonneg'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationquestion',
                    constraint=models.UniqueConstraint(fields=('test', 'item'), name='qquestion_item_once_per_test'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationattempt',
                    constraint=models.UniqueConstraint(fields=('test', 'user', 'number'), name='qattempt_number_unique'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationattempt',
                    constraint=models.UniqueConstraint(condition=models.Q(('submitted_at__isnull', True)), fields=('test', 'user'), name='qattempt_one_open'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationattempt',
                    constraint=models.CheckConstraint(condition=models.Q(('number__gte', 1)), name='qattempt_number_positive'),
                ),
                migrations.AddConstraint(
                    model_name='qualificationattempt',
                    constraint=models.CheckConstraint(condition=models.Q(('score__isnull', True), models.Q(('score__gte', 0), ('score__lte', 1)), _connector='OR'), name='qattempt_score_0_1'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
